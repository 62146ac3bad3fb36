"""The check of a user error as every script reports it (cli.run): exit 2 and one stderr line."""
from __future__ import annotations


def check_one_line_error(err: str, rc: int, *fragments: str) -> str:
    """A user error as the scripts report it (cli.run): exit status 2, stderr exactly one line starting
    'error: ' (no traceback), holding each of `fragments`. Returns the line."""
    assert rc == 2, (rc, err)
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err, err
    for f in fragments:
        assert f in err, (f, err)
    return err.strip()


def one_line_error(capsys, rc: int, *fragments: str) -> str:
    """check_one_line_error on what a script's main() just wrote to stderr (pytest's capsys)."""
    return check_one_line_error(capsys.readouterr().err, rc, *fragments)
