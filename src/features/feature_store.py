"""The feature store's command line: build it from the definitions, or read an entity's online features.

    python -m src.features.feature_store apply      # make features: write the source, apply, materialise
    python -m src.features.feature_store online 3   # the online features of entity 3

Building is ``src.features.store_repository``; reading is
``src.features.store_reads``; where the store lives is
``src.features.store_backend`` (the profile's ``feature_store``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from src.features.store_backend import VIEW_NAME, FeatureStoreError, describe, require
from src.features.store_reads import online_features
from src.features.store_repository import apply_and_materialize, feature_service_name, store_features
from src.utils.config import load_feature_config, resolve_settings


def main(argv: Sequence[str] | None = None) -> int:
    from src.utils import cli
    from src.utils.cli import refuse

    parser = cli.parser(
        "python -m src.features.feature_store", __doc__, example="python -m src.features.feature_store --env prod apply"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("apply", help="write the source, apply the repository, materialise online")
    online = commands.add_parser("online", help="print the online features of entities, by key")
    online.add_argument("keys", type=int, nargs="+")
    args = parser.parse_args(argv)
    try:
        store = resolve_settings(args.env, args.env_config).feature_store
        feature_config = load_feature_config()
        if args.command == "apply":
            apply_and_materialize(store, feature_config)
            print(f"applied {VIEW_NAME} ({len(store_features(feature_config))} feature versions) and feature service "
                  f"{feature_service_name(feature_config)} to {describe(store)}; materialised online")  # fmt: skip
            return 0
        rows = online_features(require(store), store, feature_config, args.keys)
        print(rows.to_string(index=False))
        return 0
    except (FeatureStoreError, ValueError, KeyError) as exc:  # ConfigError, unknown features
        return refuse(str(exc))


if __name__ == "__main__":
    sys.exit(main())
