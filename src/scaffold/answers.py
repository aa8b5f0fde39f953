"""The answers that make a new model project: its names, its data, its target and its estimator.

``make new-model ANSWERS=answers.yml`` reads them (README, "Adapt it to your
model"); every answer is checked before anything is written, so a wrong one is
one line naming it and no half-made project. The naming answers are the
template's questions (``copier.yml``), kept in the new project's
``.copier-answers.yml`` for ``copier update``; the data answers only serve to
write the model pack once, which the team then owns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from src.utils.config import ConfigError, ModelSpec, ProjectIdentity, echo, load_yaml
from src.utils.errors import ProjectError

#: The data formats a project trains on (``data.path`` in ``configs/model_config.yaml``).
DATA_SUFFIXES = (".csv", ".parquet")
#: A catalog or schema name of a three-level Unity Catalog name.
CatalogName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
ColumnName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]


class AnswersError(ProjectError, ValueError):
    """An answer that cannot make a working project; the message names it."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Catalogs(_Frozen):
    """The Unity Catalog catalog of each profile (dev, staging, prod)."""

    dev: CatalogName = "dev_catalog"
    staging: CatalogName = "staging_catalog"
    prod: CatalogName = "prod_catalog"


class ColumnAnswer(_Frozen):
    """What the team says of one input column; anything left out is inferred from the data file."""

    kind: Literal["numeric", "categorical", "boolean"] | None = None
    description: str = ""
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    values: tuple[str, ...] | None = None
    nullable: bool | None = None


class Answers(ProjectIdentity):
    """Everything ``make new-model`` needs: the identity of ``configs/environment.yaml`` (the same names, checked
    by the same rules), the catalogs, the data and the estimator. Paths are relative to the answers file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    description: str = ""
    catalogs: Catalogs = Catalogs()
    schema_name: CatalogName = Field("ml_models", alias="schema")
    data: Path
    target: ColumnName
    entity_key: ColumnName | None = None
    #: Columns of the file that are not inputs (identifiers, timestamps, leaks of the label).
    drop: tuple[ColumnName, ...] = ()
    columns: Mapping[ColumnName, ColumnAnswer] = Field(default_factory=dict)
    estimator: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")]
    params: Mapping[str, Any] = Field(default_factory=dict)

    @field_validator("data")
    @classmethod
    def _data_file(cls, data: Path) -> Path:
        if data.suffix.lower() not in DATA_SUFFIXES:
            raise ValueError("expected a .csv or .parquet file")
        return data

    @property
    def identity(self) -> ProjectIdentity:
        return ProjectIdentity(**self.model_dump(include=set(ProjectIdentity.model_fields)))

    @property
    def model_spec(self) -> ModelSpec:
        return ModelSpec(estimator=self.estimator, params=dict(self.params))

    def template_data(self) -> dict[str, str]:
        """The template's answers (``copier.yml``'s questions): the names every platform file is written with."""
        return {
            "team": self.team,
            "team_code": self.team_code,
            "project": self.project,
            "model_name": self.model_name,
            "owner": self.owner,
            "use_case": self.use_case,
            "description": self.description or self.use_case,
            "dev_catalog": self.catalogs.dev,
            "staging_catalog": self.catalogs.staging,
            "prod_catalog": self.catalogs.prod,
            "schema": self.schema_name,
        }


def _problem(error: Mapping[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown answer"
    if error["type"] == "missing":
        return f"{key}: required answer is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{key}: {message} (got {echo(repr(error.get('input')))})"


def parse_answers(content: object, source: str, base: Path) -> Answers:
    """The answers of ``content`` (parsed YAML) with the data path taken from ``base``; an AnswersError names the
    first wrong answer (one line)."""
    if not isinstance(content, Mapping):
        raise AnswersError(f"{source}: expected a mapping of answers, got {type(content).__name__}")
    try:
        answers = Answers.model_validate(content)
    except ValidationError as exc:
        raise AnswersError(f"{source}: {_problem(exc.errors()[0])}") from None
    data = answers.data if answers.data.is_absolute() else (base / answers.data)
    return answers.model_copy(update={"data": data.absolute()})


def read_answers(path: Path) -> Answers:
    """The answers file at ``path``, checked."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AnswersError(f"{path}: cannot read the answers file: {exc.strerror or exc}") from None
    try:
        content = load_yaml(text, str(path))
    except ConfigError as exc:
        raise AnswersError(str(exc).splitlines()[0]) from None
    return parse_answers(content, str(path), path.parent)
