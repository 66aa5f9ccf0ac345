"""Where the tests find the repository's files: everything they read ships with the repository."""
from pathlib import Path

#: the repository root (project.yml, configs/, assets/)
REPO = Path(__file__).resolve().parents[1]

#: small slices of real data sets with their licences (tests/data/README.md)
TEST_DATA = REPO / "tests" / "data"

#: XQuAD English split by article (SQuAD v1.1 JSON), committed for the `qa` workflow
XQUAD = REPO / "assets" / "xquad"
