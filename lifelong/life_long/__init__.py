"""The life-long benchmark (lifelong.md)."""
