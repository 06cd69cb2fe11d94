"""Print the API's OpenAPI document (docs/openapi.json is this output, checked by the tests)."""
import json
import sys

from api.app import create_app
from core.storage.db import Database, make_engine


def main() -> int:
    app = create_app(Database(make_engine("sqlite://")), None)
    json.dump(app.openapi(), sys.stdout, ensure_ascii=False, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
