"""``python -m learnloop``: the command line, as the ``learnloop`` script runs it."""

from learnloop.cli.main import app

app(prog_name="learnloop")
