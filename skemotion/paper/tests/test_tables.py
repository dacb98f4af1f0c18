"""The paper's facts have one home, and every ready-made model reads Table 3 from it."""

from __future__ import annotations

from typing import Any

import pytest

from skemotion.compose import (
    FUSION_MODALITIES,
    make_face_pipeline,
    make_fusion_pipeline,
    make_speech_pipeline,
)
from skemotion.nets import FusionClassifier, TIMNetClassifier
from skemotion.paper import (
    FEATURES,
    PAPER_HYPERPARAMETERS,
    PAPER_TABLE1,
    PAPER_TABLE2,
    TABLE1_FEATURES,
    TABLE2_COLUMNS,
    TABLE2_ROWS,
    ReproduceSettings,
    make_extractor,
    network_settings,
)


def _network(params: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {
        "lr": params[f"{prefix}__lr"],
        "batch_size": params[f"{prefix}__batch_size"],
        "max_epochs": params[f"{prefix}__max_epochs"],
        "n_scales": params[f"{prefix}__module__n_scales"],
        "filters": params[f"{prefix}__module__filters"],
    }


def test_the_speech_and_face_pipelines_default_to_table_3() -> None:
    assert _network(make_speech_pipeline().get_params(), "timnet") == network_settings(["lms"])
    assert _network(make_face_pipeline().get_params(), "timnet") == network_settings(["kpd"])


@pytest.mark.parametrize("visual", [n for n in FUSION_MODALITIES if n != "lms"])
def test_every_fusion_pipeline_of_table_2_has_its_table_3_settings(visual: str) -> None:
    params = make_fusion_pipeline(("lms", visual)).get_params()
    assert _network(params, "fusion") == network_settings(["lms", visual])


def test_lms_with_eyes_kpd_is_one_of_the_papers_two_32_filter_runs() -> None:
    assert make_fusion_pipeline(("lms", "eyes_kpd")).get_params()["fusion__module__filters"] == 32
    assert network_settings(["eyes_resnet"])["filters"] == 32
    assert network_settings(["eyes_resnet"], task="binary")["filters"] == 64
    assert network_settings(["lms", "kpd"])["filters"] == 64


@pytest.mark.parametrize("key", sorted(PAPER_HYPERPARAMETERS))
def test_from_paper_reads_table_3(key: tuple[str, str]) -> None:
    feature, task = key
    row = PAPER_HYPERPARAMETERS[key]
    if feature.startswith("fusion_"):
        net: Any = FusionClassifier.from_paper(feature.removeprefix("fusion_"), task)
    else:
        net = TIMNetClassifier.from_paper(feature, task)
    got = net.get_params()
    assert (got["lr"], got["batch_size"], got["max_epochs"], got["module__n_scales"]) == (
        row["lr"],
        row["batch_size"],
        row["max_epochs"],
        row["n_scales"],
    )


def _cells() -> list[tuple[tuple[str, ...], str]]:
    cells: list[tuple[tuple[str, ...], str]] = [
        ((name,), "binary") for name in TABLE1_FEATURES.values()
    ]
    for (row, column), _ in PAPER_TABLE2.items():
        speech = TABLE2_COLUMNS[column]
        features = (*(() if speech is None else (speech,)), *TABLE2_ROWS[row])
        cells.append((features, "multiclass"))
    return cells


@pytest.mark.parametrize(("features", "task"), _cells())
def test_every_reproduced_cell_trains_with_table_3(features: tuple[str, ...], task: str) -> None:
    model = ReproduceSettings().model(features, task)
    assert _network(model.get_params(), model.steps[-1][0]) == network_settings(features, task=task)


def test_the_registry_holds_every_feature_of_the_tables_once() -> None:
    assert list(TABLE1_FEATURES) == list(PAPER_TABLE1)
    assert set(TABLE1_FEATURES.values()) == set(FEATURES)
    in_table2 = {n for row in TABLE2_ROWS.values() for n in row}
    in_table2 |= {n for n in TABLE2_COLUMNS.values() if n is not None}
    assert in_table2 <= set(FEATURES)
    assert FEATURES["lms"].accuracy == 65.60 and FEATURES["wav2vec2"].accuracy is None
    assert FEATURES["kpd"].binary_macro_f1["happy"] == 0.89
    assert FUSION_MODALITIES["kpd"] == FEATURES["kpd"].description


def test_unknown_features_and_cells_are_named() -> None:
    with pytest.raises(ValueError, match="Unknown feature"):
        network_settings(["mfcc"])
    with pytest.raises(ValueError, match="no binary model"):
        network_settings(["lms", "kpd"], task="binary")


EXTRACTORS = {
    "lms": ("LogMelSpectrogram", "audio_path"),
    "wav2vec2": ("Wav2Vec2Embedder", ["audio_path"]),
    "face_resnet": ("ResNetEmbedder", ["video_path", "actor"]),
    "kpd": ("KeyPointDistances", ["video_path", "actor"]),
    "au": ("ActionUnits", ["video_path", "actor"]),
    "eyes_resnet": ("ResNetEmbedder", ["video_path", "actor"]),
    "eyes_kpd": ("EyeKeyPointDistances", ["video_path", "actor"]),
    "mouth_resnet": ("ResNetEmbedder", ["video_path", "actor"]),
    "head_pose": ("HeadPose", ["video_path", "actor"]),
}


@pytest.mark.parametrize("feature", list(FEATURES))
def test_every_feature_has_one_extractor_factory(feature: str) -> None:
    transformer, columns = make_extractor(feature, video_column="video_path")
    assert (type(transformer).__name__, columns) == EXTRACTORS[feature]


def test_fusion_pipelines_and_table_runs_build_the_same_extractors() -> None:
    union = make_fusion_pipeline(("lms", "kpd", "eyes_kpd", "au", "head_pose"))[0]
    settings = ReproduceSettings()
    for name, transformer, columns in union.transformers:
        reproduced, reproduced_columns = settings.extractor(name)
        assert type(transformer) is type(reproduced) and columns == reproduced_columns
    with pytest.raises(ValueError, match="Unknown feature 'mfcc'"):
        make_extractor("mfcc")
