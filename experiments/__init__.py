"""The studies: each a declarative :class:`experiments.study.Study`, built in or a plug-in
(experiments.registry)."""
from experiments.registry import StudyError, builtin_studies, get_study

__all__ = ["StudyError", "builtin_studies", "get_study"]
