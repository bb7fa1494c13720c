"""Array jobs: a batch system runs the same command as N tasks, each told its index by
environment variables; each task then runs its shard I/N of the sweep (runner.grid.shard).
One module per batch system with a ``shard(environ) -> (I, N) | None`` (None outside one of
its array tasks; runner.grid.GridError for variables that give no valid shard), listed once in
``ARRAYS``. Adding PBS or LSF is one module and one line here."""
from runner.arrays import slurm

ARRAYS = {"slurm": slurm.shard}


def shard_from(environ) -> tuple[int, int] | None:
    """(I, N) of the array task this process runs in, by the first batch system that says so,
    or None."""
    for shard in ARRAYS.values():
        found = shard(environ)
        if found is not None:
            return found
    return None
