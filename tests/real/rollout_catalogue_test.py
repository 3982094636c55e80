#!/usr/bin/env python3
"""Unit test of tests/real/rollout_catalogue.py: the real-node rollout test's catalogue holds the
product's versions plus the failing Medusa version, which migrates data, fails after migrating and
records itself in the store's schema table; the product's released 0.2.1 does neither. Run by
ctest (label unit), so a change of the Medusa chart that breaks the builder fails here, not only
in `make test-real`."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rollout_catalogue  # noqa: E402


class RolloutCatalogueTest(unittest.TestCase):
    def test_the_failing_version_fails_after_migrating_and_the_released_one_does_not(self):
        with tempfile.TemporaryDirectory() as work:
            out = os.path.join(work, "catalogue")
            result = subprocess.run([sys.executable, os.path.join(HERE, "rollout_catalogue.py"), out],
                                    capture_output=True, text=True)
            self.assertEqual(result.returncode, 0, result.stderr)
            with open(os.path.join(out, "index.json"), encoding="utf-8") as f:
                medusa = json.load(f)["engines"]["medusa"]
            failing = rollout_catalogue.FAILING_VERSION
            self.assertIn(failing, medusa["versions"])
            self.assertIn("0.2.1", medusa["versions"])
            self.assertTrue(medusa["versions"][failing]["migrates_data"])
            self.assertNotEqual(medusa["default"], failing, "the failing version must never be the default")

            def values(version):
                with open(os.path.join(medusa["versions"][version]["dir"], "values.yaml"), encoding="utf-8") as f:
                    return f.read()
            self.assertIn("failAfterMigrating: true", values(failing))
            self.assertIn(f"values ('{failing}')", values(failing))
            self.assertIn("failAfterMigrating: false", values("0.2.1"))
            with open(os.path.join(medusa["versions"][failing]["dir"], "Chart.yaml"), encoding="utf-8") as f:
                self.assertIn(f"version: {failing}", f.read())


if __name__ == "__main__":
    unittest.main()
