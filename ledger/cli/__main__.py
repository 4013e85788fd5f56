"""``python -m ledger.cli``: the same as the installed ``ebill`` command."""

from ledger.cli.main import main

if __name__ == "__main__":
    main()
