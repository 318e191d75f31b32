"""``python -m learnloop``: the command line, as the ``learnloop`` script runs it."""

from learnloop.cli.main import app

if __name__ == "__main__":
    app(prog_name="learnloop")
