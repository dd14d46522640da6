"""The commune node: a Flask app over one SQLite file that works fully offline."""


def create_app(test_config=None):
    from .app import create_app as _create
    return _create(test_config)
