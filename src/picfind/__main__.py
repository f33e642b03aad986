"""``python -m picfind`` and the ``picfind`` command."""

import sys


def main() -> None:
    try:
        from picfind.cli import run
    except KeyboardInterrupt:  # Ctrl-C while numpy & co. are still loading
        sys.stderr.write("picfind: interrupted\n")
        sys.exit(130)
    sys.exit(run())


if __name__ == "__main__":
    main()
