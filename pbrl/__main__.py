"""``python -m pbrl``: the ``pbrl`` command."""

from pbrl.cli.main import main

if __name__ == "__main__":
    main()
