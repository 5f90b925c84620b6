"""posekit's default Kinetics-400 -> Posetics label map (thesis 3.5).

The thesis merges Kinetics-400 classes whose difference lies in the object rather than in
the body motion ("making cakes", "making sushi", "making pizza" -> "making food") and keeps
classes whose body motion differs ("washing clothes", "washing feet", "washing hair" stay),
ending with 320 classes. That list is not public; this map is our own, built on the same
principle and documented group by group in ``REASONS``. Classes it does not name keep their
Kinetics-400 name. It has fewer merges than the thesis (400 -> 342 classes), so accuracies
on it are not comparable with the thesis' Posetics numbers.

Rules we followed:

- merge when the same verb is applied to different objects with the same posture and
  limb motion (eating X, making X, cooking X, feeding X, riding an animal);
- keep apart when the body part or the movement differs even if the verb is shared
  (massaging back / feet / legs / head, waxing, washing, shaving; swimming strokes;
  dance styles; throwing a discus vs. a javelin);
- musical instruments are grouped by how they are played (plucked with a strum, blown
  with fingering, keys, percussion), not into one "playing instrument", because the arm
  motion is the signal a skeleton model sees;
- no class is dropped: filtering clips without people is the job of ``--min-pose-frames``.
"""

from __future__ import annotations

NAME = "kinetics400-posetics"

GROUPS: dict[str, tuple[str, ...]] = {
    "making food": ("making a cake", "making a sandwich", "making pizza", "making sushi"),
    "cooking": ("cooking chicken", "cooking egg", "cooking sausages", "frying vegetables", "scrambling eggs"),
    "eating": (
        "eating burger",
        "eating cake",
        "eating carrots",
        "eating chips",
        "eating doughnuts",
        "eating hotdog",
        "eating ice cream",
        "eating spaghetti",
        "eating watermelon",
    ),
    "drinking": ("drinking", "drinking beer", "drinking shots", "tasting beer"),
    "smoking": ("smoking", "smoking hookah"),
    "cutting fruit": ("cutting pineapple", "cutting watermelon"),
    "peeling fruit or vegetables": ("peeling apples", "peeling potatoes"),
    "playing guitar": (
        "playing guitar",
        "playing bass guitar",
        "playing ukulele",
        "strumming guitar",
        "tapping guitar",
    ),
    "playing wind instrument": (
        "playing clarinet",
        "playing flute",
        "playing harmonica",
        "playing recorder",
        "playing saxophone",
        "playing trumpet",
    ),
    "playing keyboard instrument": ("playing keyboard", "playing organ", "playing piano"),
    "playing percussion": ("playing drums", "playing cymbals", "playing xylophone"),
    "playing table game": ("playing cards", "playing chess", "playing monopoly", "playing poker"),
    "catching or throwing baseball or softball": ("catching or throwing baseball", "catching or throwing softball"),
    "passing American football": ("passing American football (in game)", "passing American football (not in game)"),
    "riding animal": ("riding camel", "riding elephant", "riding mule", "riding or walking with horse"),
    "riding a bike": ("riding a bike", "riding mountain bike", "biking through snow"),
    "driving vehicle": ("driving car", "driving tractor"),
    "pushing cart or wheelchair": ("pushing cart", "pushing wheelchair"),
    "feeding animals": ("feeding birds", "feeding fish", "feeding goats"),
    "petting animal": ("petting animal (not cat)", "petting cat"),
    "grooming animal": ("grooming dog", "grooming horse"),
    "cleaning shoes": ("cleaning shoes", "shining shoes"),
    "folding": ("folding clothes", "folding napkins", "folding paper"),
    "juggling": ("juggling balls", "juggling fire"),
    "skiing downhill": ("skiing (not slalom or crosscountry)", "skiing slalom"),
    "tying tie": ("tying bow tie", "tying tie"),
    "opening present or box": ("opening present", "unboxing"),
    "reading": ("reading book", "reading newspaper"),
}
"""Posetics class -> the Kinetics-400 classes merged onto it."""

REASONS: dict[str, str] = {
    "making food": "the thesis' own example: the food differs, the hands knead, spread and cut alike",
    "cooking": "standing at a stove, stirring or turning; the ingredient is an object",
    "eating": "hand to mouth while seated or standing; the food is an object",
    "drinking": "raising a glass or bottle to the mouth; the drink is an object",
    "smoking": "hand to mouth with a pause; cigarette or hookah hose is an object",
    "cutting fruit": "one hand holds, the other slices; the fruit is an object",
    "peeling fruit or vegetables": "same wrist motion with a peeler or knife",
    "playing guitar": "strumming/plucking with one hand, fretting with the other",
    "playing wind instrument": "instrument held at the mouth, both hands fingering in front of the chest",
    "playing keyboard instrument": "seated, both hands on keys",
    "playing percussion": "striking with sticks or mallets, arms alternating",
    "playing table game": "seated at a table handling small pieces or cards",
    "catching or throwing baseball or softball": "catch and throw of a ball with a glove",
    "passing American football": "the same throw; in or out of a game is context, not motion",
    "riding animal": "seated astride a walking animal; the animal is an object",
    "riding a bike": "pedalling posture; terrain and bike type are context",
    "driving vehicle": "seated, hands on a steering wheel",
    "pushing cart or wheelchair": "walking while pushing handles at waist height",
    "feeding animals": "reaching out or throwing food; the animal is an object",
    "petting animal": "stroking with one hand; the animal is an object",
    "grooming animal": "brushing an animal's coat",
    "cleaning shoes": "brushing or rubbing a shoe held in the other hand",
    "folding": "folding a flat object on a surface",
    "juggling": "the same toss-and-catch cycle; fire is an object",
    "skiing downhill": "both are downhill skiing; gates are context (cross-country stays: a different stride)",
    "tying tie": "the same knotting at the neck",
    "opening present or box": "tearing or cutting open a package on the lap or a table",
    "reading": "holding and looking at printed pages",
}
"""Why each group merges (the body motion they share)."""

MAPPING: dict[str, str] = {source: target for target, sources in GROUPS.items() for source in sources}
"""Kinetics-400 class -> Posetics class, for the classes that change (others keep their name)."""
