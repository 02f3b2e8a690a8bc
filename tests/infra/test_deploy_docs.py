"""docs/deploy-*.md match the files: every path they name exists, every template parameter and
output they name is in template.yaml (and the AWS doc lists them all), every placeholder list they
hand to envsubst is exactly the manifest's, and each doc has its platform's commands."""

from __future__ import annotations

import re

import pytest

from tests.infra import _chain

REPO = _chain.REPO
DOCS = {name: REPO / "docs" / f"deploy-{name}.md" for name in ("aws", "gcp", "azure", "hpc")}
# Paths that commands create, not files of the repository.
GENERATED = ("samconfig.toml", "layers/build", ".venv/", ".tools/", ".aws-sam/")
PATH = re.compile(
    r"(?<![\w/.$<-])((?:containers|functions|layers|tests|docs|cube)/[\w./+-]*[\w/]"
    r"|template\.yaml|pyproject\.toml|uv\.lock|samconfig\.toml|README\.md)"
)
COMMANDS = {
    "aws": ["sam build", "sam deploy --guided", "docker build -f containers/worker/Dockerfile", "docker push"],
    "gcp": ["docker build -f containers/worker/Dockerfile", "docker push", "gcloud run jobs replace",
            "gcloud run jobs execute"],
    "azure": ["az acr build", "az containerapp job create", "az containerapp job start"],
    "hpc": ["docker build -f containers/worker/Dockerfile", "apptainer build", "sbatch --array="],
}


def _text(name: str) -> str:
    return DOCS[name].read_text()


@pytest.mark.parametrize("name", DOCS)
def test_doc_exists_and_has_its_commands(name: str) -> None:
    text = _text(name)
    for command in COMMANDS[name]:
        assert command in text, f"deploy-{name}.md lacks `{command}`"


@pytest.mark.parametrize("name", DOCS)
def test_every_path_in_the_doc_exists(name: str) -> None:
    paths = {m.group(1).rstrip(".") for m in PATH.finditer(_text(name))}
    assert paths
    missing = sorted(p for p in paths if not p.startswith(GENERATED) and not (REPO / p).exists())
    assert not missing, f"deploy-{name}.md names files that do not exist: {missing}"


def test_aws_doc_lists_exactly_the_template_parameters_and_outputs() -> None:
    text = _text("aws")
    template = _chain.load_template()
    table = re.search(r"^## Parameters\n(.*?)(?=^## )", text, re.M | re.S).group(1)
    documented = set(re.findall(r"^\| `(\w+)` \|", table, re.M))
    assert documented == set(template["Parameters"])
    # Parameters set on the command line.
    overrides = re.search(r"--parameter-overrides(.*?)```", text, re.S).group(1)
    assert set(re.findall(r"(\w+)=", overrides)) <= set(template["Parameters"])
    required = {k for k, v in template["Parameters"].items() if "Default" not in v}
    assert required <= set(re.findall(r"(\w+)=", overrides)), "the deploy command omits a required parameter"
    outputs = re.search(r"^\| output \| what \|\n(.*?)\n\n", text, re.M | re.S).group(1)
    assert set(re.findall(r"^\| `(\w+)` \|", outputs, re.M)) == set(template["Outputs"])


def test_aws_doc_defaults_match_the_template() -> None:
    table = re.search(r"^## Parameters\n(.*?)(?=^## )", _text("aws"), re.M | re.S).group(1)
    params = _chain.load_template()["Parameters"]
    for name, default in re.findall(r"^\| `(\w+)` \| ([^|]*) \|", table, re.M):
        default = default.strip()
        if "Default" not in params[name]:
            assert default == "(required)", name
        elif default:
            assert default.strip("`") == str(params[name]["Default"]), name


@pytest.mark.parametrize(("name", "manifest"), [("gcp", "containers/cloudrun-job.yaml"),
                                                ("azure", "containers/aca-job.yaml")])
def test_envsubst_lists_every_placeholder_of_the_manifest(name: str, manifest: str) -> None:
    text = _text(name)
    (listed,) = re.findall(r"envsubst '([^']*)'", text)
    wanted = set(re.findall(r"\$\{(\w+)\}", (REPO / manifest).read_text()))
    assert set(re.findall(r"\$\{(\w+)\}", listed)) == wanted
    # And the doc exports each of them before envsubst runs.
    before = text[: text.index("envsubst '")]
    exported = set(re.findall(r"(?:export |\s)(\w+)=", before))
    assert wanted <= exported, sorted(wanted - exported)
