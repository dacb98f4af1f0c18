"""The commands of ``skemotion`` (:mod:`skemotion.cli` parses the arguments and runs one).

One module per command, and ``_common`` for what they share: the settings of the
embedded corpus and of ``--quick``, the input errors, the loading of clips and the
speech or face pipeline. Heavy imports (torch, librosa, matplotlib) happen inside the
commands so that ``skemotion --version`` and ``--help`` answer at once.
"""
