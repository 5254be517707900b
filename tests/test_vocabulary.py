"""The site vocabulary: what clinicians type places the site where a needle there goes.

Every expectation here is written from anatomy (and the trigger-point manuals), in tables in this file, never
read from ``rules/vocabulary.yaml``. Each check is a function that takes a vocabulary, so the breakage tests at
the end run the very same check on a deliberately broken copy and show it fails.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from needlescreen import IntakeError, RuleFileError, Screener, load_ruleset
from needlescreen.ruleset import Ruleset, default_rules_dir
from needlescreen.testing import baseline_intake
from needlescreen.vocabulary import Vocabulary, VocabularyError

from .strategies import bundled

VOCABULARY_FILE = default_rules_dir() / "vocabulary.yaml"

# --- the tables (from anatomy) ---------------------------------------------------------------------------------

#: (what a clinician types, a region or grouping the site must lie within, is it over the lung fields?)
#: None in the last column: not asserted (the name does not decide it).
PLACES: list[tuple[str, str, bool | None]] = [
    # head and face
    ("masseter", "face", False),
    ("temporalis", "head", False),
    ("medial pterygoid", "face", False),
    ("lateral pterygoid", "face", False),
    ("zygomaticus major", "face", False),
    ("orbicularis oculi", "eye_orbit", False),
    ("occipitofrontalis", "head", False),
    ("frontalis", "head", False),
    ("buccinator", "face", False),
    ("digastric", "head_and_neck", False),
    ("jaw", "face", False),
    ("head", "head", False),
    ("temple", "head", False),
    # neck
    ("SCM", "anterior_neck", False),
    ("sternocleidomastoid", "anterior_neck", False),
    ("platysma", "head_and_neck", None),
    ("longus colli", "anterior_neck", False),
    ("anterior scalene", "thorax", True),
    ("middle scalene", "thorax", True),
    ("posterior scalene", "thorax", True),
    ("scalenes", "head_and_neck", True),
    ("splenius capitis", "posterior_neck", False),
    ("splenius cervicis", "posterior_neck", False),
    ("semispinalis capitis", "posterior_neck", False),
    ("semispinalis cervicis", "posterior_neck", False),
    ("cervical multifidus", "posterior_neck", False),
    ("multifidus C5", "posterior_neck", False),
    ("obliquus capitis inferior", "suboccipital", False),
    ("rectus capitis posterior major", "suboccipital", False),
    ("suboccipitals", "suboccipital", False),
    ("back of the neck", "posterior_neck", False),
    # shoulder girdle, upper back, chest wall: over the lung fields
    ("upper trapezius", "thorax", True),
    ("UT", "thorax", True),
    ("right UT", "thorax", True),
    ("upper trap", "thorax", True),
    ("MT", "posterior_thorax", True),
    ("LT", "posterior_thorax", True),
    ("lower trapezius", "posterior_thorax", True),
    ("levator scapulae", "thorax", True),
    ("lev scap", "thorax", True),
    ("rhomboids", "posterior_thorax", True),
    ("rhomboid major", "posterior_thorax", True),
    ("serratus posterior superior", "posterior_thorax", True),
    ("serratus posterior inferior", "posterior_thorax", True),
    ("supraspinatus", "thorax", True),
    ("supra", "thorax", True),
    ("pectoralis major", "anterior_thorax", True),
    ("pec major", "anterior_thorax", True),
    ("pec minor", "anterior_thorax", True),
    ("subclavius", "anterior_thorax", True),
    ("sternalis", "anterior_thorax", True),
    ("serratus anterior", "thorax", True),
    ("intercostals", "thorax", True),
    ("latissimus dorsi", "thorax", True),
    ("lats", "thorax", True),
    ("subscapularis", "thorax", True),
    ("chest", "anterior_thorax", True),
    ("upper back", "posterior_thorax", True),
    ("mid back", "posterior_thorax", True),
    ("iliocostalis thoracis", "posterior_thorax", True),
    ("longissimus thoracis", "posterior_thorax", True),
    ("multifidus T6", "posterior_thorax", True),
    ("multifidus T11", "posterior_thorax", True),
    ("thoracic multifidus T4", "posterior_thorax", True),
    # shoulder and arm
    ("infraspinatus", "upper_limb", None),
    ("infra", "upper_limb", None),
    ("teres minor", "upper_limb", None),
    ("teres major", "upper_limb", None),
    ("deltoid", "upper_limb", False),
    ("anterior deltoid", "upper_limb", False),
    ("shoulder", "upper_limb", False),
    ("biceps brachii", "upper_arm", False),
    ("long head of biceps", "upper_limb", False),
    ("short head of biceps", "upper_limb", False),
    ("triceps", "upper_arm", False),
    ("brachialis", "upper_arm", False),
    ("coracobrachialis", "upper_limb", None),
    ("upper arm", "upper_arm", False),
    ("anconeus", "upper_limb", False),
    ("elbow", "elbow", False),
    # forearm and hand
    ("brachioradialis", "forearm", False),
    ("supinator", "forearm", False),
    ("pronator teres", "forearm", False),
    ("ECRL", "forearm", False),
    ("ECRB", "forearm", False),
    ("ECU", "forearm", False),
    ("EDC", "forearm", False),
    ("extensor digitorum", "forearm", False),
    ("extensor indicis", "forearm", False),
    ("FCR", "forearm", False),
    ("FCU", "forearm", False),
    ("FDS", "forearm", False),
    ("flexor digitorum superficialis", "forearm", False),
    ("FDP", "forearm", False),
    ("palmaris longus", "forearm", False),
    ("forearm", "forearm", False),
    ("wrist", "wrist", False),
    ("FDI", "hand", False),
    ("first dorsal interosseous", "hand", False),
    ("adductor pollicis", "hand", False),
    ("opponens pollicis", "hand", False),
    ("abductor pollicis brevis", "hand", False),
    ("hand", "hand", False),
    ("thumb", "hand", False),
    # abdomen, low back, pelvis
    ("rectus abdominis", "abdomen", False),
    ("external oblique", "abdomen", False),
    ("internal oblique", "abdomen", False),
    ("transversus abdominis", "abdomen", False),
    ("pyramidalis", "abdomen", False),
    ("QL", "lower_trunk_quadrant", False),
    ("quadratus lumborum", "lower_trunk_quadrant", False),
    ("multifidus L4", "lower_trunk_quadrant", False),
    ("L4 multifidus", "lower_trunk_quadrant", False),
    ("lumbar multifidus", "lower_trunk_quadrant", False),
    ("iliocostalis lumborum", "lower_trunk_quadrant", False),
    ("lower back", "lower_trunk_quadrant", False),
    ("low back", "lower_trunk_quadrant", False),
    ("iliopsoas", "lower_trunk_quadrant", False),
    ("psoas major", "lower_trunk_quadrant", False),
    ("iliacus", "lower_trunk_quadrant", False),
    ("pelvic floor", "pelvic", False),
    ("levator ani", "pelvic", False),
    ("coccygeus", "pelvic", False),
    ("bulbospongiosus", "pelvic", False),
    ("sacrum", "sacral", False),
    # hip and buttock
    ("gluteus maximus", "gluteal", False),
    ("glute max", "gluteal", False),
    ("glute med", "gluteal", False),
    ("gluteus minimus", "gluteal", False),
    ("glute min", "gluteal", False),
    ("piriformis", "gluteal", False),
    ("quadratus femoris", "gluteal", False),
    ("obturator internus", "lower_body_deep", None),
    ("TFL", "lower_limb", False),
    ("tensor fasciae latae", "lower_limb", False),
    ("buttock", "gluteal", False),
    ("bum", "gluteal", False),
    ("hip", "hip", False),
    # thigh and knee
    ("quads", "thigh", False),
    ("rectus femoris", "thigh", False),
    ("RF", "thigh", False),
    ("VL", "thigh", False),
    ("vastus lateralis", "thigh", False),
    ("VMO", "thigh", False),
    ("vastus intermedius", "thigh", False),
    ("sartorius", "thigh", False),
    ("gracilis", "thigh", False),
    ("pectineus", "thigh", False),
    ("adductor magnus", "thigh", False),
    ("adductor longus", "thigh", False),
    ("hamstrings", "thigh", False),
    ("biceps femoris", "thigh", False),
    ("semitendinosus", "thigh", False),
    ("semimembranosus", "thigh", False),
    ("thigh", "thigh", False),
    ("popliteus", "lower_limb", False),
    ("knee", "knee", False),
    # leg and foot
    ("gastrocnemius", "calf", False),
    ("gastroc", "calf", False),
    ("L gastroc", "calf", False),
    ("med gastroc", "calf", False),
    ("medial gastrocnemius", "calf", False),
    ("lateral gastrocnemius", "calf", False),
    ("soleus", "calf", False),
    ("plantaris", "calf", False),
    ("tibialis anterior", "calf", False),
    ("TA", "calf", False),
    ("tib post", "calf", False),
    ("TP", "calf", False),
    ("peroneus longus", "calf", False),
    ("fibularis longus", "calf", False),
    ("peroneus brevis", "calf", False),
    ("EHL", "calf", False),
    ("extensor hallucis longus", "calf", False),
    ("EDL", "calf", False),
    ("FHL", "calf", False),
    ("FDL", "calf", False),
    ("calf", "calf", False),
    ("lower leg", "calf", False),
    ("ankle", "ankle", False),
    ("abductor hallucis", "foot", False),
    ("flexor digitorum brevis", "foot", False),
    ("extensor digitorum brevis", "foot", False),
    ("quadratus plantae", "foot", False),
    ("abductor digiti minimi of the foot", "foot", False),
    ("foot", "foot", False),
    ("feet", "foot", False),
]

#: Regions every placement of a row must lie within are group or site regions; "lower_body_deep" is the test's
#: own shorthand for "the deep buttock or the pelvis" (the obturator internus is reached from either).
SHORTHAND = {"lower_body_deep": ("gluteal", "pelvic")}

#: (abbreviation or other name, the full name it stands for) as physiotherapists write them.
ALIASES: list[tuple[str, str]] = [
    ("UT", "upper trapezius"),
    ("upper trap", "upper trapezius"),
    ("MT", "middle trapezius"),
    ("LT", "lower trapezius"),
    ("QL", "quadratus lumborum"),
    ("SCM", "sternocleidomastoid"),
    ("glute med", "gluteus medius"),
    ("glute max", "gluteus maximus"),
    ("glute min", "gluteus minimus"),
    ("gastroc", "gastrocnemius"),
    ("med gastroc", "medial gastrocnemius"),
    ("lat gastroc", "lateral gastrocnemius"),
    ("TFL", "tensor fasciae latae"),
    ("FDI", "first dorsal interosseous"),
    ("ECRL", "extensor carpi radialis longus"),
    ("ECRB", "extensor carpi radialis brevis"),
    ("EDC", "extensor digitorum"),
    ("FDS", "flexor digitorum superficialis"),
    ("FDP", "flexor digitorum profundus"),
    ("FCR", "flexor carpi radialis"),
    ("FCU", "flexor carpi ulnaris"),
    ("VMO", "vastus medialis oblique"),
    ("VL", "vastus lateralis"),
    ("RF", "rectus femoris"),
    ("TA", "tibialis anterior"),
    ("TP", "tibialis posterior"),
    ("tib post", "tibialis posterior"),
    ("peroneus longus", "fibularis longus"),
    ("peroneus brevis", "fibularis brevis"),
    ("EHL", "extensor hallucis longus"),
    ("EDL", "extensor digitorum longus"),
    ("FHL", "flexor hallucis longus"),
    ("FDL", "flexor digitorum longus"),
    ("lev scap", "levator scapulae"),
    ("infra", "infraspinatus"),
    ("supra", "supraspinatus"),
    ("pec major", "pectoralis major"),
    ("pec minor", "pectoralis minor"),
    ("lats", "latissimus dorsi"),
    ("rhomboids", "rhomboid major"),
    ("multifidi L4", "multifidus L4"),
    ("quads", "quadriceps"),
    ("hammies", "hamstrings"),
    ("scalenus anterior", "anterior scalene"),
    ("sternomastoid", "sternocleidomastoid"),
    ("lower leg", "calf"),
    ("low back", "lower back"),
    ("bum", "buttock"),
    ("feet", "foot"),
]

#: Muscles over the lung fields or pleura (pneumothorax risk): a site there is a thorax site.
OVER_THE_LUNG = [
    "upper trapezius",
    "middle trapezius",
    "lower trapezius",
    "levator scapulae",
    "rhomboid major",
    "rhomboid minor",
    "serratus posterior superior",
    "serratus posterior inferior",
    "serratus anterior",
    "pectoralis major",
    "pectoralis minor",
    "sternalis",
    "subclavius",
    "intercostals",
    "supraspinatus",
    "subscapularis",
    "latissimus dorsi",
    "anterior scalene",
    "middle scalene",
    "posterior scalene",
    "iliocostalis thoracis",
    "longissimus thoracis",
    "multifidus T3",
    "multifidus T8",
    "multifidus T12",
    "thoracic multifidus T6",
    "erector spinae T10",
]

#: The muscles of Travell & Simons' Trigger Point Manual vol. 1 (upper half of the body) and vol. 2 (lower
#: extremities), and the further muscles of Dommerholt & Fernandez-de-las-Penas, Trigger Point Dry Needling.
TRIGGER_POINT_MANUALS = [
    # vol. 1: head and neck
    "upper trapezius", "middle trapezius", "lower trapezius", "sternocleidomastoid", "masseter", "temporalis",
    "medial pterygoid", "lateral pterygoid", "digastric", "orbicularis oculi", "zygomaticus major", "platysma",
    "buccinator", "occipitofrontalis", "splenius capitis", "splenius cervicis", "semispinalis capitis",
    "semispinalis cervicis", "cervical multifidus", "rectus capitis posterior major",
    "rectus capitis posterior minor", "obliquus capitis inferior", "obliquus capitis superior",
    # vol. 1: upper back, shoulder and arm
    "levator scapulae", "anterior scalene", "middle scalene", "posterior scalene", "supraspinatus",
    "infraspinatus", "teres minor", "latissimus dorsi", "teres major", "subscapularis", "rhomboid major",
    "rhomboid minor", "deltoid", "coracobrachialis", "biceps brachii", "brachialis", "triceps brachii", "anconeus",
    # vol. 1: forearm and hand
    "extensor carpi radialis longus", "extensor carpi radialis brevis", "extensor carpi ulnaris",
    "brachioradialis", "extensor digitorum", "extensor indicis", "supinator", "palmaris longus",
    "flexor carpi radialis", "flexor carpi ulnaris", "flexor digitorum superficialis",
    "flexor digitorum profundus", "flexor pollicis longus", "pronator teres", "adductor pollicis",
    "opponens pollicis", "first dorsal interosseous", "abductor digiti minimi of the hand",
    # vol. 1: trunk
    "pectoralis major", "sternalis", "pectoralis minor", "subclavius", "serratus anterior",
    "serratus posterior superior", "serratus posterior inferior", "iliocostalis thoracis", "iliocostalis lumborum",
    "longissimus thoracis", "multifidus", "rotatores", "rectus abdominis", "external oblique", "internal oblique",
    "transversus abdominis", "pyramidalis", "intercostals", "diaphragm",
    # vol. 2: low back, pelvis and hip
    "quadratus lumborum", "iliopsoas", "psoas major", "iliacus", "bulbospongiosus", "ischiocavernosus",
    "transverse perineal", "external anal sphincter", "levator ani", "coccygeus", "obturator internus",
    "gluteus maximus", "gluteus medius", "gluteus minimus", "piriformis", "gemellus superior",
    "gemellus inferior", "quadratus femoris", "obturator externus", "tensor fasciae latae",
    # vol. 2: thigh and knee
    "sartorius", "rectus femoris", "vastus medialis", "vastus intermedius", "vastus lateralis", "pectineus",
    "adductor longus", "adductor brevis", "adductor magnus", "gracilis", "biceps femoris", "semitendinosus",
    "semimembranosus", "popliteus",
    # vol. 2: leg and foot
    "tibialis anterior", "fibularis longus", "fibularis brevis", "fibularis tertius", "gastrocnemius",
    "medial gastrocnemius", "lateral gastrocnemius", "soleus", "plantaris", "tibialis posterior",
    "extensor digitorum longus", "extensor hallucis longus", "flexor digitorum longus", "flexor hallucis longus",
    "extensor digitorum brevis", "extensor hallucis brevis", "abductor hallucis", "flexor digitorum brevis",
    "abductor digiti minimi of the foot", "quadratus plantae", "lumbricals", "flexor hallucis brevis",
    "adductor hallucis", "flexor digiti minimi", "interossei",
    # Dommerholt & Fernandez-de-las-Penas, further muscles needled
    "longus colli", "vastus medialis oblique", "biceps long head", "biceps short head", "lumbar multifidus",
]  # fmt: skip

#: (misspelling, the body area every suggestion must lie in, the name that must be among them) by hand.
TYPOS: list[tuple[str, str, str]] = [
    ("gastrocnemus", "lower_limb", "gastrocnemius"),
    ("gastrocnemious", "lower_limb", "gastrocnemius"),
    ("suprasinatus", "posterior_thorax", "supraspinatus"),
    ("supraspinatis", "posterior_thorax", "supraspinatus"),
    ("infraspinatis", "upper_limb", "infraspinatus"),
    ("supinatr", "upper_limb", "supinator"),
    ("uper trapezius", "thorax", "upper trapezius"),
    ("upper trapezis", "thorax", "upper trapezius"),
    ("levator scapule", "cervicothoracic_spine", "levator scapulae"),
    ("rhomboid majr", "posterior_thorax", "rhomboid major"),
    ("tibialis anterir", "lower_limb", "tibialis anterior"),
    ("tibilis posterior", "lower_limb", "tibialis posterior"),
    ("soleous", "lower_limb", "soleus"),
    ("pirifomis", "lower_limb", "piriformis"),
    ("gluteus medus", "lower_limb", "gluteus medius"),
    ("quadratus lumboram", "lower_trunk_quadrant", "quadratus lumborum"),
    ("iliocostalis lumborom", "trunk", "iliocostalis lumborum"),
    ("sternocleidomastiod", "head_and_neck", "sternocleidomastoid"),
    ("pectoralis majr", "thorax", "pectoralis major"),
    ("serratus anterir", "thorax", "serratus anterior"),
    ("extensor digitorm", "upper_limb", "extensor digitorum"),
    ("brachioradilis", "upper_limb", "brachioradialis"),
    ("vastus lateralus", "lower_limb", "vastus lateralis"),
    ("semitendinosis", "lower_limb", "semitendinosus"),
    ("masetter", "head", "masseter"),
    ("rectus abdominus muscel", "abdomen", "rectus abdominis"),
    ("scalenus anterir", "head_and_neck", "anterior scalene"),
    ("extensor hallucis longs", "lower_limb", "extensor hallucis longus"),
]


# --- helpers ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vocabulary(ruleset: Ruleset) -> Vocabulary:
    return ruleset.vocabulary


def _raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(VOCABULARY_FILE.read_text(encoding="utf-8"))
    return data


def _vocabulary_from(data: dict[str, Any], ruleset: Ruleset) -> Vocabulary:
    return Vocabulary.from_data(data, ruleset.regions)


def _lies_within(vocab: Vocabulary, region: str, expected: str) -> bool:
    targets = SHORTHAND.get(expected, (expected,))
    return any(vocab.regions.within(region, t) for t in targets)


# --- checks (each also run on a broken vocabulary below) -------------------------------------------------------


def check_places(vocab: Vocabulary) -> None:
    wrong = []
    for name, expected, thorax in PLACES:
        try:
            region = vocab.place(name).region
        except VocabularyError as exc:
            wrong.append(f"{name!r}: refused ({exc})")
            continue
        if not _lies_within(vocab, region, expected):
            wrong.append(f"{name!r}: placed in {region}, not within {expected}")
        if thorax is not None and ("thorax" in vocab.regions[region].within) != thorax:
            wrong.append(f"{name!r}: {region} is {'not ' if thorax else ''}a thorax site")
    assert not wrong, "\n".join(wrong)


def check_aliases(vocab: Vocabulary) -> None:
    wrong = []
    for alias, full in ALIASES:
        a, b = vocab.place(alias).region, vocab.place(full).region
        if a != b:
            wrong.append(f"{alias!r} places in {a} but {full!r} in {b}")
    assert not wrong, "\n".join(wrong)


def check_every_listed_alias(vocab: Vocabulary) -> None:
    """Every alias in the file places (or refuses) as its full name does, with and without each region."""
    wrong = []
    for term in vocab.terms:
        for alias in term.aliases:
            for region in (None, *term.places()):
                if _outcome(vocab, alias, region) != _outcome(vocab, term.name, region):
                    wrong.append(f"{alias!r} vs {term.name!r} at region {region}")
    assert not wrong, "\n".join(wrong)


def _outcome(vocab: Vocabulary, name: str, region: str | None) -> str:
    try:
        return vocab.place(name, region=region).region
    except VocabularyError as exc:
        return f"refused at {exc.field}"


def check_over_the_lung(vocab: Vocabulary) -> None:
    wrong = [m for m in OVER_THE_LUNG if "thorax" not in vocab.regions[vocab.place(m).region].within]
    assert not wrong, f"muscles over the lung fields not placed as thorax sites: {wrong}"


def check_trigger_point_manuals(vocab: Vocabulary) -> None:
    missing = [m for m in TRIGGER_POINT_MANUALS if vocab.term(m) is None]
    assert not missing, f"trigger-point manual muscles missing from the vocabulary: {missing}"


def check_typos(vocab: Vocabulary) -> None:
    wrong = []
    for typo, area, expected in TYPOS:
        with pytest.raises(VocabularyError):
            vocab.place(typo)  # a near miss is never accepted
        offered = vocab.suggest(typo)
        if expected not in offered:
            wrong.append(f"{typo!r}: {expected!r} not among {offered}")
        for name in offered:
            term = vocab.term(name)
            assert term is not None
            if not all(vocab.regions.within(p, area) for p in term.places()):
                wrong.append(f"{typo!r}: suggests {name!r} ({', '.join(term.places())}), outside {area}")
    assert not wrong, "\n".join(wrong)


CHECKS: dict[str, Callable[[Vocabulary], None]] = {
    "places": check_places,
    "aliases": check_aliases,
    "every listed alias": check_every_listed_alias,
    "over the lung": check_over_the_lung,
    "trigger-point manuals": check_trigger_point_manuals,
    "typos": check_typos,
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_bundled_vocabulary_passes(name: str, vocabulary: Vocabulary) -> None:
    CHECKS[name](vocabulary)


def test_the_tables_are_large_enough() -> None:
    assert len(PLACES) >= 120
    assert len({n for n, _, _ in PLACES}) == len(PLACES)
    assert len(TRIGGER_POINT_MANUALS) >= 100


def test_a_suggestion_never_moves_the_site_to_another_part_of_the_body(vocabulary: Vocabulary) -> None:
    assert "supinator" not in vocabulary.suggest("suprasinatus")
    assert "infraspinatus" not in vocabulary.suggest("suprasinatus")
    # With the site's region given, suggestions come from that part of the body only.
    assert vocabulary.suggest("supinatus", region="forearm") == ["supinator"]
    assert "supinator" not in vocabulary.suggest("supinatus", region="supraspinatus_fossa")
    assert vocabulary.suggest("gastrocnemus", region="upper_trapezius") == []
    # "levator" is close to the levator scapulae (neck and shoulder) and the levator ani (pelvis): no guess
    # without the region, and the region decides which is offered.
    assert vocabulary.suggest("levator") == []
    assert vocabulary.suggest("levator", region="pelvic") == ["levator ani"]
    assert "levator ani" not in vocabulary.suggest("levator", region="upper_trapezius")
    assert "levator scapulae" in vocabulary.suggest("levator", region="upper_trapezius")


def test_an_abbreviation_typo_gets_no_guess(vocabulary: Vocabulary) -> None:
    assert vocabulary.suggest("UY") == []
    with pytest.raises(VocabularyError, match="unknown"):
        vocabulary.place("UY")


# --- property: case, spacing, punctuation and wrappers do not change a placement ----------------------------------

_ALL_NAMES = sorted({n for t in bundled().vocabulary.terms for n in (t.name, *t.aliases)})


def _scramble(name: str, rng: random.Random) -> str:
    words = name.split()
    words = [w.upper() if rng.random() < 0.3 else w.capitalize() if rng.random() < 0.5 else w for w in words]
    seps = [rng.choice([" ", "  ", "-", "_", ". ", " / ", "\t"]) for _ in words[1:]]
    out = words[0] + "".join(s + w for s, w in zip(seps, words[1:], strict=True))
    if rng.random() < 0.3:
        out = rng.choice(["m. ", "M ", "musculus ", "the "]) + out
    if rng.random() < 0.4:
        out += rng.choice([" muscle", " Muscle", " m.", " muscles", "."])
    return rng.choice(["", " ", "  "]) + out + rng.choice(["", " ", ","])


@given(name=st.sampled_from(_ALL_NAMES), seed=st.integers(0, 2**32 - 1))
def test_any_spelling_of_a_name_places_identically(name: str, seed: int) -> None:
    vocab = bundled().vocabulary
    scrambled = _scramble(name, random.Random(seed))
    term = vocab.term(name)
    assert term is not None
    for region in (None, *term.places()):
        assert _outcome(vocab, scrambled, region) == _outcome(vocab, name, region), (name, scrambled, region)


# --- sides, levels and what is refused --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "side"),
    [("L gastroc", "left"), ("right UT", "right"), ("gastrocnemius (R)", "right"), ("Lt glute med", "left"),
     ("rt. m. gastrocnemius", "right"), ("left upper trapezius muscle", "left"), ("UT", None), ("LT", None)],
)  # fmt: skip
def test_a_side_word_in_the_name_sets_the_side(typed: str, side: str | None, vocabulary: Vocabulary) -> None:
    assert vocabulary.place(typed).side == side


def test_a_side_word_that_contradicts_the_side_is_refused(vocabulary: Vocabulary) -> None:
    with pytest.raises(VocabularyError) as err:
        vocabulary.place("L gastroc", side="right")
    assert err.value.field == "side"
    assert vocabulary.place("L gastroc", side="left").side == "left"


@pytest.mark.parametrize(
    ("typed", "region"),
    [("multifidus L4", "lumbar"), ("L4 multifidus", "lumbar"), ("multifidus at L4/5", "lumbar"),
     ("multifidus L4-L5", "lumbar"), ("multifidus C4", "posterior_neck"), ("multifidus S1", "sacral"),
     ("lumbar multifidus", "lumbar"), ("lumbar multifidus L5", "lumbar"), ("cervical multifidus C3", "posterior_neck")],
)  # fmt: skip
def test_spinal_levels(typed: str, region: str, vocabulary: Vocabulary) -> None:
    assert vocabulary.place(typed).region == region


@pytest.mark.parametrize(
    ("typed", "says"),
    [("multifidus", "needs a spinal level"), ("lumbar multifidus T4", "no such spinal level"),
     ("gastrocnemius L4", "takes no spinal level"), ("ITB", "not a muscle"), ("iliotibial band", "not a muscle"),
     ("neck", "not one place"), ("leg", "not one place"), ("arm", "not one place"), ("back", "not one place"),
     ("trapezius", "not one place"), ("interossei", "not one place"), ("PL muscle", "unknown"),
     ("tibial nerve", "nerve"), ("serratus", "not one place"), ("quadratus", "unknown"), ("levator", "unknown")],
)  # fmt: skip
def test_what_is_refused(typed: str, says: str, vocabulary: Vocabulary) -> None:
    with pytest.raises(VocabularyError, match=says):
        vocabulary.place(typed)


# --- a region and a muscle together ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("muscle", "region", "placed"),
    [("gastrocnemius", "calf", "calf"), ("gastrocnemius", "lower_limb", "calf"), ("gastroc", "distal_limb", "calf"),
     ("upper trapezius", "thorax", "upper_trapezius"), ("tibialis posterior", "medial_lower_leg", "medial_lower_leg"),
     ("leg", "thigh", "thigh"), ("neck", "anterior_neck", "anterior_neck"), ("multifidus", "lumbar", "lumbar"),
     ("interossei", "foot", "foot"), ("interossei", "hand", "hand"),
     ("trapezius", "upper_trapezius", "upper_trapezius"), ("first dorsal interosseous", "hand", "first_web_space")],
)  # fmt: skip
def test_a_region_that_agrees_keeps_the_finer_place(
    muscle: str, region: str, placed: str, vocabulary: Vocabulary
) -> None:
    assert vocabulary.place(muscle, region=region).region == placed


@pytest.mark.parametrize(
    ("muscle", "region"),
    [("upper trapezius", "calf"), ("gastrocnemius", "thorax"), ("gastrocnemius", "foot"), ("UT", "lumbar"),
     ("multifidus L4", "posterior_neck"), ("leg", "forearm"), ("interossei", "calf"), ("rectus abdominis", "lumbar")],
)  # fmt: skip
def test_a_region_that_disagrees_is_refused(muscle: str, region: str, vocabulary: Vocabulary) -> None:
    with pytest.raises(VocabularyError) as err:
        vocabulary.place(muscle, region=region)
    assert err.value.field == "region"


def _intake(site: dict[str, Any]) -> dict[str, Any]:
    intake = baseline_intake()
    intake["plan"] = {"technique": "dry_needling", "sites": [{"id": "s1", **site}]}
    return intake


def test_an_intake_whose_region_and_muscle_disagree_names_both_fields(ruleset: Ruleset) -> None:
    with pytest.raises(IntakeError) as err:
        Screener(ruleset, engine="plain").screen(_intake({"region": "calf", "side": "right", "muscle": "UT"}))
    paths = {p.path for p in err.value.problems}
    assert {"plan.sites[0].region", "plan.sites[0].muscle"} <= paths


def test_an_intake_site_takes_region_and_side_from_the_name(ruleset: Ruleset) -> None:
    result = Screener(ruleset, engine="plain").screen(_intake({"muscle": "L gastroc", "region": "lower_limb"}))
    site = result.sites[0].site
    assert (site.region, site.side, site.muscle) == ("calf", "left", "L gastroc")


def test_an_intake_side_word_against_the_side_is_refused(ruleset: Ruleset) -> None:
    with pytest.raises(IntakeError) as err:
        Screener(ruleset, engine="plain").screen(_intake({"muscle": "L gastroc", "side": "right"}))
    assert [p.path for p in err.value.problems] == ["plan.sites[0].side"]


# --- loading: strict, and covered by the content hash --------------------------------------------------------------


def _copy_rules(tmp_path: Path) -> Path:
    import shutil

    root = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), root)
    return root


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda d: d["muscles"].update(soleus="atlantis"), "unknown region"),
        (lambda d: d["muscles"].update(soleus="lower_limb"), "grouping"),
        (lambda d: d["muscles"].update(soleus={"region": "calf", "colour": "red"}), "Extra inputs"),
        (lambda d: d["muscles"].update({"Soleus ": "calf"}), "reads the same"),
        (lambda d: d["muscles"]["gastrocnemius"]["aliases"].append("UT"), "reads the same"),
        (lambda d: d["muscles"].update(soleus={"aliases": ["sol"]}), "needs a region"),
        (lambda d: d["muscles"].update(soleus={"region": "calf", "levels": ["nowhere"]}), "level map"),
        (lambda d: d["level_maps"]["lumbar"].update({"L5-L3": "lumbar"}), "backwards"),
        (lambda d: d.update(schema="needlescreen.vocabulary/0"), "pattern"),
    ],
)
def test_a_broken_vocabulary_file_is_refused_at_load(
    change: Callable[[dict[str, Any]], None], says: str, tmp_path: Path
) -> None:
    root = _copy_rules(tmp_path)
    data = _raw()
    change(data)
    (root / "vocabulary.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(RuleFileError, match=says) as err:
        load_ruleset(root)
    assert "vocabulary.yaml" in str(err.value)


def test_muscles_in_the_regions_file_are_refused(tmp_path: Path) -> None:
    root = _copy_rules(tmp_path)
    text = (root / "regions.yaml").read_text(encoding="utf-8")
    (root / "regions.yaml").write_text(text + "muscles:\n  soleus: calf\n", encoding="utf-8")
    with pytest.raises(RuleFileError, match=r"regions\.yaml"):
        load_ruleset(root)


def test_the_content_hash_covers_the_vocabulary(tmp_path: Path, ruleset: Ruleset) -> None:
    root = _copy_rules(tmp_path)
    assert load_ruleset(root).content_hash == ruleset.content_hash
    path = root / "vocabulary.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("soleus: {region: calf", "soleus: {region: knee"))
    changed = load_ruleset(root)
    assert changed.content_hash != ruleset.content_hash
    assert changed.vocabulary.place("soleus").region == "knee"  # the directory's own vocabulary is used


# --- breakage: each check above fails on a deliberately broken vocabulary --------------------------------------


def _move(data: dict[str, Any], name: str, region: str) -> None:
    entry = data["muscles"][name]
    if isinstance(entry, str):
        data["muscles"][name] = region
    else:
        entry["region"] = region
        entry.pop("may_be", None)


def _break_ut_to_calf(data: dict[str, Any]) -> None:
    _move(data, "upper trapezius", "calf")


def _break_alias(data: dict[str, Any]) -> None:
    data["muscles"]["upper trapezius"]["aliases"].remove("UT")
    data["muscles"]["lower trapezius"]["aliases"].append("UT")


def _break_drop_sternalis(data: dict[str, Any]) -> None:
    del data["muscles"]["sternalis"]


def _break_alias_elsewhere(data: dict[str, Any]) -> None:
    # an alias that places differently from its name: a word entry that lists a muscle's abbreviation
    data["words"]["calf"]["aliases"].remove("lower leg")
    data["words"]["thigh"]["aliases"].append("lower leg")


@pytest.mark.parametrize(
    ("check", "breakage"),
    [
        ("places", _break_ut_to_calf),
        ("over the lung", _break_ut_to_calf),
        ("aliases", _break_alias),
        ("aliases", _break_alias_elsewhere),
        ("trigger-point manuals", _break_drop_sternalis),
    ],
)
def test_breakage_each_check_fails_on_a_broken_vocabulary(
    check: str, breakage: Callable[[dict[str, Any]], None], ruleset: Ruleset
) -> None:
    data = copy.deepcopy(_raw())
    breakage(data)
    broken = _vocabulary_from(data, ruleset)
    with pytest.raises(AssertionError):
        CHECKS[check](broken)


def test_breakage_the_alias_check_fails_when_normalisation_confuses_names(
    ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    vocab = _vocabulary_from(_raw(), ruleset)
    real = Vocabulary.place

    def swapped(self: Vocabulary, name: str, **kw: Any) -> Any:
        # a normaliser that read "UT" as the full name of another muscle
        return real(self, "lower trapezius" if re.fullmatch(r"(?i)\W*ut\W*", name) else name, **kw)

    monkeypatch.setattr(Vocabulary, "place", swapped)
    with pytest.raises(AssertionError):
        check_every_listed_alias(vocab)


def test_breakage_the_typo_check_fails_without_the_body_area_filter(
    ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    vocab = _vocabulary_from(_raw(), ruleset)
    monkeypatch.setattr(Vocabulary, "term_areas", lambda self, _term: frozenset(self.areas))
    with pytest.raises(AssertionError):
        check_typos(vocab)


# --- the command line -----------------------------------------------------------------------------------------


def test_rules_vocabulary_lists_and_places_names() -> None:
    from .test_cli import run

    listing = run("rules", "vocabulary")
    assert listing.returncode == 0
    assert re.search(r"^upper trapezius \[muscle\] -> upper_trapezius;.*\bUT\b", listing.stdout, re.M)
    placed = run("rules", "vocabulary", "L gastroc", "--format", "json")
    assert json.loads(placed.stdout) == {"name": "L gastroc", "term": "gastrocnemius", "region": "calf", "side": "left"}
    refused = run("rules", "vocabulary", "UT", "--region", "calf")
    assert refused.returncode == 2
    assert "upper trapezius" in refused.stderr + refused.stdout


def test_an_unknown_region_is_reported_not_replaced_by_the_muscle(ruleset: Ruleset, vocabulary: Vocabulary) -> None:
    with pytest.raises(IntakeError) as err:
        Screener(ruleset, engine="plain").screen(_intake({"region": "calff", "side": "left", "muscle": "gastroc"}))
    assert [p.path for p in err.value.problems] == ["plan.sites[0].region"]
    with pytest.raises(VocabularyError, match="unknown body region"):
        vocabulary.place("gastroc", region="calff")


def test_a_nerve_written_as_a_muscle_is_refused_even_with_a_region(vocabulary: Vocabulary) -> None:
    """A perineural site must name its nerve in the nerve field, where its territory counts (rules/body.yaml)."""
    with pytest.raises(VocabularyError, match="give it as the site's nerve"):
        vocabulary.place("tibial nerve (perineural)", region="ankle", side="right")
