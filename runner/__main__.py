from runner.cli import app

app(prog_name="runner")
