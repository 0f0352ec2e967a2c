"""The shapes every part of hf-bioner agrees on: entities, records, entity-type sets.

An *entity* is a dict ``{"start", "end", "type", "text"}`` with character offsets into the
text of its unit, ``end`` exclusive, so ``text[start:end] == entity["text"]`` always holds.
A *record* is one unit (a sentence or a whole document) of a corpus::

    {"id", "doc_id", "text", "entities", "language", "corpus", "offset"}

where ``offset`` is the position of the unit's first character in its document, so that
``entity["start"] + record["offset"]`` is the entity's position in the document.

Bad input is reported with :class:`BioNerInputError`, raised where it is first seen, with a
message that names the file and line (or the field) that is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypedDict


class BioNerInputError(ValueError):
    """Input that hf-bioner cannot use: the message says which file, line or field, and why."""


class Entity(TypedDict):
    start: int
    end: int
    type: str
    text: str


class Record(TypedDict):
    id: str
    doc_id: str
    text: str
    entities: list[Entity]
    language: str
    corpus: str
    offset: int


LANGUAGES = ("en", "zh")


def record_features():
    """The `datasets.Features` of a record (imported lazily: `datasets` is slow to import)."""
    from datasets import Features, List, Value

    entity = {
        "start": Value("int32"),
        "end": Value("int32"),
        "type": Value("string"),
        "text": Value("string"),
    }
    return Features(
        {
            "id": Value("string"),
            "doc_id": Value("string"),
            "text": Value("string"),
            "entities": List(entity),
            "language": Value("string"),
            "corpus": Value("string"),
            "offset": Value("int32"),
        }
    )


def make_entity(text: str, start: int, end: int, type_: str, where: str = "") -> Entity:
    """Build an entity over ``text[start:end]``, checking the offsets first."""
    if not (0 <= start < end <= len(text)):
        raise BioNerInputError(
            f"{where}: entity offsets {start}-{end} ({type_}) are not a non-empty span "
            f"inside a text of {len(text)} characters"
        )
    return {"start": start, "end": end, "type": type_, "text": text[start:end]}


def validate_entities(text: str, entities: Iterable[dict], where: str = "entities") -> None:
    """Raise `BioNerInputError` unless every entity is a non-empty span whose text matches."""
    for i, ent in enumerate(entities):
        here = f"{where}[{i}]"
        missing = [k for k in ("start", "end", "type") if k not in ent]
        if missing:
            raise BioNerInputError(f"{here}: missing field(s) {', '.join(missing)}")
        start, end = ent["start"], ent["end"]
        if not isinstance(start, int) or not isinstance(end, int):
            raise BioNerInputError(
                f"{here}: start and end must be integers, got {start!r}, {end!r}"
            )
        if not (0 <= start < end <= len(text)):
            raise BioNerInputError(
                f"{here}: offsets {start}-{end} are outside a text of {len(text)} characters"
            )
        if "text" in ent and ent["text"] != text[start:end]:
            raise BioNerInputError(
                f"{here}: text {ent['text']!r} does not match text[{start}:{end}] = "
                f"{text[start:end]!r}"
            )


def sort_entities(entities: Iterable[Entity]) -> list[Entity]:
    """Order by start, then longest first (outer before inner), then type: one canonical order."""
    return sorted(entities, key=lambda e: (e["start"], -e["end"], e["type"]))


def dedupe_entities(entities: Iterable[Entity]) -> list[Entity]:
    """Drop repeated (start, end, type) triples, keeping the first; returns canonical order."""
    seen: dict[tuple[int, int, str], Entity] = {}
    for ent in entities:
        seen.setdefault((ent["start"], ent["end"], ent["type"]), ent)
    return sort_entities(seen.values())


# --------------------------------------------------------------------------- entity types


@dataclass(frozen=True)
class EntityType:
    """One entity type: its label in the data, how prompts name it, and what it means."""

    label: str
    name: str
    definition: str


@dataclass(frozen=True)
class TypeSet:
    """The entity types of one corpus, in the language of its prompts."""

    language: str
    types: tuple[EntityType, ...]

    @property
    def labels(self) -> list[str]:
        return [t.label for t in self.types]

    @property
    def names(self) -> list[str]:
        """The names used inside generated text (the tags the model writes)."""
        return [t.name for t in self.types]

    def display_names(self) -> dict[str, str]:
        """Label -> the name used inside generated text (e.g. ``dis`` -> ``疾病``)."""
        return {t.label: t.name for t in self.types}

    def get(self, label: str) -> EntityType:
        for t in self.types:
            if t.label == label:
                return t
        raise BioNerInputError(f"unknown entity type {label!r}; valid: {', '.join(self.labels)}")


DISEASE = EntityType(
    "Disease",
    "Disease",
    "disease, disorder or syndrome",
)
CHEMICAL = EntityType("Chemical", "Chemical", "chemical or drug")
GENIA_TYPES = (
    EntityType("protein", "protein", "protein, protein family or complex"),
    EntityType("DNA", "DNA", "gene, DNA region or sequence"),
    EntityType("RNA", "RNA", "RNA molecule, e.g. mRNA"),
    EntityType("cell_type", "cell_type", "natural cell type, e.g. T cells"),
    EntityType("cell_line", "cell_line", "cultured cell line, e.g. Jurkat"),
)
NCBI_ORIGINAL_TYPES = (
    EntityType("SpecificDisease", "SpecificDisease", "a specific disease (e.g. Wilson disease)"),
    EntityType("DiseaseClass", "DiseaseClass", "a class of diseases (e.g. autosomal disorders)"),
    EntityType("Modifier", "Modifier", "a disease word modifying another noun (e.g. cancer gene)"),
    EntityType(
        "CompositeMention",
        "CompositeMention",
        "several diseases in one phrase (e.g. breast and ovarian cancer)",
    ),
)
CMEEE_TYPES = (
    EntityType("dis", "疾病", "疾病、综合征、损伤"),
    EntityType("sym", "临床表现", "症状、体征"),
    EntityType("pro", "医疗程序", "检查、治疗、手术"),
    EntityType("equ", "医疗设备", "医疗器械和设备"),
    EntityType("dru", "药物", "药品和疫苗"),
    EntityType("ite", "医学检验项目", "化验项目和指标"),
    EntityType("bod", "身体", "部位、器官、组织、体液"),
    EntityType("dep", "科室", "医院科室"),
    EntityType("mic", "微生物类", "细菌、病毒等微生物"),
)

TYPE_SETS: dict[str, TypeSet] = {
    "ncbi_disease": TypeSet("en", (DISEASE,)),
    "ncbi_disease_original": TypeSet("en", NCBI_ORIGINAL_TYPES),
    "bc5cdr": TypeSet("en", (CHEMICAL, DISEASE)),
    "jnlpba": TypeSet("en", GENIA_TYPES),
    "genia": TypeSet("en", GENIA_TYPES),
    "cmeee": TypeSet("zh", CMEEE_TYPES),
    "cmeee_v2": TypeSet("zh", CMEEE_TYPES),
}


# What a person reads for each stable type code (output keeps the codes): the Space's filter
# and legend, the CLI's table, the README and the model card. CMeEE's codes are short
# abbreviations of Chinese categories, so they get an English name with the Chinese one.
READABLE_TYPE_NAMES: dict[str, str] = {
    "Disease": "Disease",
    "Chemical": "Chemical",
    "protein": "Protein",
    "DNA": "DNA",
    "RNA": "RNA",
    "cell_type": "Cell type",
    "cell_line": "Cell line",
    "SpecificDisease": "Specific disease",
    "DiseaseClass": "Disease class",
    "Modifier": "Disease modifier",
    "CompositeMention": "Composite disease mention",
    "dis": "Disease (疾病)",
    "sym": "Clinical finding (临床表现)",
    "pro": "Medical procedure (医疗程序)",
    "equ": "Medical equipment (医疗设备)",
    "dru": "Drug (药物)",
    "ite": "Lab test item (医学检验项目)",
    "bod": "Body part (身体)",
    "dep": "Department (科室)",
    "mic": "Microorganism (微生物类)",
}

# English meanings of every known type code (the type sets' definitions are in the prompt's
# language, Chinese for CMeEE).
TYPE_MEANINGS: dict[str, str] = {
    **{t.label: t.definition for t in (DISEASE, CHEMICAL, *GENIA_TYPES, *NCBI_ORIGINAL_TYPES)},
    "dis": "disease, syndrome or injury",
    "sym": "symptom or clinical sign",
    "pro": "examination, treatment or surgical procedure",
    "equ": "medical instrument or device",
    "dru": "drug or vaccine",
    "ite": "laboratory test item or measured index",
    "bod": "body part, organ, tissue or body fluid",
    "dep": "hospital department",
    "mic": "microorganism such as a bacterium or virus",
}


def readable_type_name(label: str) -> str:
    """The name a person reads for a type code (the code itself for zero-shot types)."""
    return READABLE_TYPE_NAMES.get(label, label)


def type_set(corpus: str) -> TypeSet:
    """The entity types of a corpus, with a clear error for an unknown name."""
    try:
        return TYPE_SETS[corpus]
    except KeyError:
        raise BioNerInputError(
            f"no entity types known for corpus {corpus!r}; valid: {', '.join(TYPE_SETS)}"
        ) from None


def covering_type_sets(sets: Sequence[TypeSet]) -> list[TypeSet]:
    """``sets`` without those whose types another set already covers (same language).

    NCBI-disease's ``{Disease}`` is covered by BC5CDR's ``{Chemical, Disease}``: prompting
    both would ask for every disease twice and cost a whole generation per sentence. Of two
    identical sets the first is kept.
    """
    kept: list[TypeSet] = []
    for i, candidate in enumerate(sets):
        labels = set(candidate.labels)
        covered = any(
            other.language == candidate.language
            and labels <= set(other.labels)
            and (labels < set(other.labels) or j < i)
            for j, other in enumerate(sets)
            if j != i
        )
        if not covered:
            kept.append(candidate)
    return kept
