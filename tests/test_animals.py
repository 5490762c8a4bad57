"""Is animals.csv, the table lesson 06-train learns from, the table the lesson describes?"""

from __future__ import annotations

import csv
import filecmp
from collections import Counter

import nbformat
import pytest
from conftest import REPO, solution_notebook, source_notebook

LESSON = "06-train"
TABLE = REPO / "source" / LESSON / "animals.csv"
COLUMNS = ["name", "class", "limbs", "eggs", "hair", "feathers"]


def animals() -> list[dict[str, str]]:
    with open(TABLE, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_the_table_has_the_lessons_columns_and_50_to_100_distinct_animals():
    rows = animals()
    with open(TABLE, newline="", encoding="utf-8") as file:
        assert next(csv.reader(file)) == COLUMNS
    assert 50 <= len(rows) <= 100
    names = [row["name"] for row in rows]
    assert len(set(names)) == len(names), [name for name in names if names.count(name) > 1]
    assert all(name.strip() == name and name for name in names)


def test_every_animal_is_a_mammal_a_bird_or_a_reptile_and_each_class_is_there():
    counts = Counter(row["class"] for row in animals())
    assert set(counts) == {"mammal", "bird", "reptile"}
    assert min(counts.values()) >= 10


def test_limbs_are_counted_and_the_other_traits_are_yes_or_no():
    for row in animals():
        assert row["limbs"] in {"0", "2", "4"}, row
        assert {row["eggs"], row["hair"], row["feathers"]} <= {"0", "1"}, row


def test_only_birds_have_feathers_and_only_mammals_have_hair():
    for row in animals():
        assert (row["feathers"] == "1") == (row["class"] == "bird"), row
        if row["hair"] == "1":
            assert row["class"] == "mammal", row


@pytest.mark.parametrize(
    "name, kind, limbs, eggs, hair, feathers",
    [
        ("ring-tailed lemur", "mammal", "4", "0", "1", "0"),
        ("platypus", "mammal", "4", "1", "1", "0"),  # lays eggs, has hair
        ("short-beaked echidna", "mammal", "4", "1", "1", "0"),
        ("bottlenose dolphin", "mammal", "2", "0", "0", "0"),  # loses its birth whiskers
        ("humpback whale", "mammal", "2", "0", "1", "0"),  # a hair in each bump on its head
        ("common pipistrelle", "mammal", "2", "0", "1", "0"),  # its arms are wings
        ("emperor penguin", "bird", "2", "1", "0", "1"),
        ("brown kiwi", "bird", "2", "1", "0", "1"),
        ("king cobra", "reptile", "0", "1", "0", "0"),
        ("boa constrictor", "reptile", "0", "0", "0", "0"),  # gives birth to live young
        ("green sea turtle", "reptile", "4", "1", "0", "0"),
    ],
)
def test_known_animals_have_their_documented_traits(name, kind, limbs, eggs, hair, feathers):
    row = next((row for row in animals() if row["name"] == name), None)
    assert row is not None, f"{name} is missing"
    assert (row["class"], row["limbs"], row["eggs"], row["hair"], row["feathers"]) == (
        kind,
        limbs,
        eggs,
        hair,
        feathers,
    )


def test_the_lesson_states_the_tables_counts():
    counts = Counter(row["class"] for row in animals())
    cells = source_notebook(LESSON).cells
    text = " ".join(" ".join(c.source.split()) for c in cells if c.cell_type == "markdown")
    assert f"{len(animals())} real animals" in text
    mammals, birds, reptiles = counts["mammal"], counts["bird"], counts["reptile"]
    assert f"{mammals} mammals, {birds} birds and {reptiles} reptiles" in text


def test_learners_and_solutions_get_the_same_table_beside_the_notebook():
    for folder in ("notebooks", "solutions"):
        copy = REPO / folder / LESSON / "animals.csv"
        assert copy.is_file() and filecmp.cmp(copy, TABLE, shallow=False), copy


def test_the_solution_shows_what_the_lesson_says_about_its_mistakes():
    """The text names the dolphin and killer whale as mistakes and calls the platypus a mammal."""
    outputs = {
        cell.id: "".join(o.get("text", "") for o in cell.get("outputs", []))
        for cell in solution_notebook(LESSON).cells
        if cell.cell_type == "code"
    }
    binary = outputs["mammal-results"]
    listed = binary.split("wrong:")[1].split("\n\n")[0].strip().splitlines()
    wrong = [line.split()[0:2] for line in listed]
    assert wrong == [["bottlenose", "dolphin"], ["killer", "whale"]]
    assert "the platypus: p = " in binary and ", a mammal;" in binary
    assert "P(mammal) = 0." in binary
    assert outputs["confusion"].count("wrong:") == 2
    assert "'+-+'; the learned weights have '+-+'" in outputs["weights"]


def test_the_lessons_test_cells_do_not_read_the_table():
    """Test cells run in the grader's process, away from the lesson's files: they bring data."""
    for cell in nbformat.read(REPO / "source" / LESSON / f"{LESSON}.ipynb", as_version=4).cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            assert "open(" not in cell.source and "csv." not in cell.source, cell.id
