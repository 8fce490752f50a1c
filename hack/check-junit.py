"""Count the test cases in junit XML files and fail when none ran.

    python3 hack/check-junit.py TIER FILE...

ansible-test treats pytest's exit status 5 (no tests collected) as success and
reports "All targets skipped" with status 0; under CI that must not pass as a
green tier. Prints a one-line summary; exits 1 when no test case ran (every
case skipped, or no files), 0 otherwise.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def main() -> int:
    """Entry point."""
    tier, paths = sys.argv[1], sys.argv[2:]
    total = skipped = failed = 0

    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as ex:
            print(f"{tier}: cannot read {path}: {ex}", file=sys.stderr)
            return 1
        for case in root.iter("testcase"):
            total += 1
            if case.find("skipped") is not None:
                skipped += 1
            elif case.find("failure") is not None or case.find("error") is not None:
                failed += 1

    ran = total - skipped
    print(f"{tier}: {total} test cases in {len(paths)} junit files: {ran - failed} passed, {failed} failed, {skipped} skipped")
    return 0 if ran > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
