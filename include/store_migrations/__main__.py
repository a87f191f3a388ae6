"""``python -m include.store_migrations revision -m MSG [--autogenerate --url URL]``."""

from __future__ import annotations

import argparse

from alembic import command

from include.store_migrations import alembic_config


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m include.store_migrations")
    parser.add_argument("action", choices=["revision"])
    parser.add_argument("-m", "--message", required=True)
    parser.add_argument("--autogenerate", action="store_true")
    parser.add_argument("--url", help="a database at head, for --autogenerate")
    args = parser.parse_args()
    command.revision(
        alembic_config(url=args.url), message=args.message, autogenerate=args.autogenerate
    )


if __name__ == "__main__":
    main()
