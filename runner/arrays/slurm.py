"""SLURM job arrays (sbatch --array): the task's shard from SLURM's own variables."""
from runner.grid import GridError


def shard(environ) -> tuple[int, int] | None:
    """(I, N) of this SLURM array task: I = (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) /
    SLURM_ARRAY_TASK_STEP (1 if unset), N = SLURM_ARRAY_TASK_COUNT; None outside an array job.
    GridError unless these are integers giving 0 <= I < N (a task outside the array would run
    a slice that another task runs too)."""
    if "SLURM_ARRAY_TASK_ID" not in environ or "SLURM_ARRAY_TASK_COUNT" not in environ:
        return None
    names = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_STEP", "SLURM_ARRAY_TASK_COUNT")
    values = {name: environ.get(name, {"SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_STEP": "1"}.get(name))
              for name in names}
    shown = " ".join(f"{k}={v}" for k, v in values.items() if k in environ)
    try:
        task, low, step, count = (int(values[name]) for name in names)
    except ValueError:
        raise GridError(f"the SLURM array variables are not integers: {shown}") from None
    index, rest = divmod(task - low, step) if step > 0 else (-1, 0)
    if rest or count < 1 or not 0 <= index < count:
        raise GridError(f"the SLURM array variables give no shard I/N with 0 <= I < N: {shown}")
    return index, count
