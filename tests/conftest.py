import os

# keep test runs from touching the user's checkpoint cache
os.environ.setdefault("LIFELONG_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".pytest_cache", "lifelong"))
