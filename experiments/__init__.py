"""The studies, each a declarative :class:`experiments.study.Study`, in one registry."""
from experiments.batch_size import BatchSizeStudy
from experiments.digits import DigitsStudy
from experiments.gd_1d import GradientDescent1D
from experiments.lcurve import LCurveDegree, LCurveDepth, LCurveLambda, LCurvePenalty
from experiments.learning_rate import LearningRateStudy
from experiments.study import Study

STUDIES: dict[str, Study] = {s.name: s for s in (
    BatchSizeStudy(), DigitsStudy(), LearningRateStudy(), GradientDescent1D(),
    LCurveDegree(), LCurveLambda(), LCurvePenalty(), LCurveDepth())}


def get_study(name: str) -> Study:
    """The study called ``name``; KeyError with the known names if none."""
    try:
        return STUDIES[name]
    except KeyError:
        raise KeyError(f"unknown study {name!r}; known: {', '.join(STUDIES)}") from None
