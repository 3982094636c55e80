"""Tests of the store chart catalogue (catalogue.py): versions, defaults, immutability."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import catalogue  # noqa: E402

TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "catalogue.py")
CHART_YAML = """apiVersion: v2
name: {name}
version: {version}
appVersion: "1.0"
{annotations}"""


class CatalogueTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp()
        self.charts = os.path.join(self.root, "charts")
        self.write_chart("medusa-store", "0.1.0")
        self.write_chart("woocommerce-store", "0.3.0")

    def tearDown(self):
        shutil.rmtree(self.root)

    def write_chart(self, name, version, template="kind: ConfigMap\n", annotations=""):
        chart = os.path.join(self.charts, name)
        os.makedirs(os.path.join(chart, "templates"), exist_ok=True)
        os.makedirs(os.path.join(chart, "image"), exist_ok=True)
        with open(os.path.join(chart, "Chart.yaml"), "w") as f:
            f.write(CHART_YAML.format(name=name, version=version, annotations=annotations))
        with open(os.path.join(chart, "templates", "a.yaml"), "w") as f:
            f.write(template)
        with open(os.path.join(chart, "image", "Dockerfile"), "w") as f:
            f.write("FROM scratch\n")
        with open(os.path.join(chart, ".helmignore"), "w") as f:
            f.write("# not in the chart\nimage/\n*.bak\n")

    def run_tool(self, *args):
        return subprocess.run([sys.executable, TOOL, *args, "--charts", self.charts],
                              capture_output=True, text=True)

    def test_released_and_current_versions_are_all_in_the_index_with_the_current_as_default(self):
        self.assertEqual(self.run_tool("release", "medusa-store").returncode, 0)
        self.write_chart("medusa-store", "0.2.0", template="kind: Secret\n",
                         annotations='annotations:\n  storefleet.io/migrates-data: "true"\n')
        out = os.path.join(self.root, "out")
        result = self.run_tool("build", "--out", out)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(os.path.join(out, "index.json")) as f:
            index = json.load(f)
        medusa = index["engines"]["medusa"]
        self.assertEqual(medusa["default"], "0.2.0")
        self.assertEqual(sorted(medusa["versions"]), ["0.1.0", "0.2.0"])
        self.assertFalse(medusa["versions"]["0.1.0"]["migrates_data"])
        self.assertTrue(medusa["versions"]["0.2.0"]["migrates_data"])
        old = medusa["versions"]["0.1.0"]["dir"]
        with open(os.path.join(old, "templates", "a.yaml")) as f:
            self.assertEqual(f.read(), "kind: ConfigMap\n", "the released version keeps its own templates")
        self.assertFalse(os.path.exists(os.path.join(old, "image")), ".helmignore'd files are not in a version")
        self.assertEqual(index["engines"]["woocommerce"]["default"], "0.3.0")

    def test_a_released_version_changed_without_a_bump_is_refused_with_what_to_do(self):
        self.assertEqual(self.run_tool("release", "medusa-store").returncode, 0)
        self.write_chart("medusa-store", "0.1.0", template="kind: Secret\n")
        for command in (["check"], ["build", "--out", os.path.join(self.root, "out")]):
            result = self.run_tool(*command)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn("templates/a.yaml", result.stderr)
            self.assertIn("bump version", result.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.root, "out")), "nothing is written on a refusal")

    def test_a_version_is_released_once_and_its_package_is_reproducible(self):
        self.assertEqual(self.run_tool("release", "medusa-store").returncode, 0)
        path = os.path.join(self.charts, "releases", "medusa-store-0.1.0.tgz")
        with open(path, "rb") as f:
            first = f.read()
        again = self.run_tool("release", "medusa-store")
        self.assertNotEqual(again.returncode, 0)
        self.assertIn("is released", again.stderr)
        os.remove(path)
        self.assertEqual(self.run_tool("release", "medusa-store").returncode, 0)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), first, "the same files package to the same bytes")

    def test_a_package_with_a_wrong_name_or_a_member_outside_its_folder_is_refused(self):
        os.makedirs(os.path.join(self.charts, "releases"))
        files = {"Chart.yaml": CHART_YAML.format(name="medusa-store", version="0.0.9", annotations="").encode()}
        with open(os.path.join(self.charts, "releases", "medusa-store-0.0.8.tgz"), "wb") as f:
            f.write(catalogue.package(files, "medusa-store"))
        result = self.run_tool("check")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("says medusa-store 0.0.9", result.stderr)
        os.remove(os.path.join(self.charts, "releases", "medusa-store-0.0.8.tgz"))
        with open(os.path.join(self.charts, "releases", "medusa-store-0.0.9.tgz"), "wb") as f:
            f.write(catalogue.package({**files, "../escape": b"x"}, "medusa-store"))
        result = self.run_tool("check")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("unexpected member", result.stderr)

    def test_an_extra_chart_folder_is_one_more_version_never_the_default(self):
        extra = os.path.join(self.root, "extra")
        shutil.copytree(os.path.join(self.charts, "woocommerce-store"), extra)
        with open(os.path.join(extra, "Chart.yaml"), "w") as f:
            f.write(CHART_YAML.format(name="woocommerce-store", version="0.3.1-test", annotations=""))
        out = os.path.join(self.root, "out")
        result = self.run_tool("build", "--out", out, "--extra", extra)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(os.path.join(out, "index.json")) as f:
            woocommerce = json.load(f)["engines"]["woocommerce"]
        self.assertEqual(sorted(woocommerce["versions"]), ["0.3.0", "0.3.1-test"])
        self.assertEqual(woocommerce["default"], "0.3.0", "an extra version is never the default")
        with open(os.path.join(extra, "Chart.yaml"), "w") as f:
            f.write(CHART_YAML.format(name="woocommerce-store", version="0.3.0", annotations=""))
        result = self.run_tool("check", "--extra", extra)
        self.assertNotEqual(result.returncode, 0, "an extra version must not replace one of the catalogue")
        self.assertIn("in the catalogue already", result.stderr)


if __name__ == "__main__":
    unittest.main()
