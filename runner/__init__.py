"""The command line: expand a grid, skip what is done, execute runs, report."""
