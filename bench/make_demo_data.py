"""Generate the built-in demo datasets: console/data/demo_data/demo.jsonl, and the preference sets made from it
(demo_pairs.jsonl: prompt/chosen/rejected for DPO; demo_kto.jsonl: prompt/completion/label for KTO).

    python bench/make_demo_data.py            # rewrites console/data/demo_data/demo*.jsonl
    python bench/make_demo_data.py --check    # exit 1 if the committed file differs from what this script makes

Deterministic (a fixed seed, fixed tables, no dict-order or hash dependence): running it twice gives the same bytes.
Each line is one example in the instruction (alpaca) format: {"instruction", "input", "output"}; "input" is ""
where the task needs none.

The tasks are templated so that a ~120k-parameter model picks the structure up in a few hundred CPU steps (the
answer's wording, the word lists, the format of numbers), and varied enough that a held-out 10 % is not a copy of
the training part: the same facts are asked in several phrasings, and the word-order and number tasks draw fresh
combinations, so the eval loss falls with the train loss at first and rises when a small subset is learnt by heart.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

SEED = 1234
N_EXAMPLES = 2000
OUT = Path(__file__).resolve().parent.parent / "console" / "data" / "demo_data" / "demo.jsonl"

CAPITALS = [
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Portugal", "Lisbon"),
    ("Austria", "Vienna"), ("Poland", "Warsaw"), ("Greece", "Athens"), ("Norway", "Oslo"), ("Sweden", "Stockholm"),
    ("Finland", "Helsinki"), ("Denmark", "Copenhagen"), ("Ireland", "Dublin"), ("Hungary", "Budapest"),
    ("Egypt", "Cairo"), ("Kenya", "Nairobi"), ("Japan", "Tokyo"), ("China", "Beijing"), ("India", "New Delhi"),
    ("Peru", "Lima"), ("Chile", "Santiago"), ("Canada", "Ottawa"), ("Mexico", "Mexico City"), ("Cuba", "Havana"),
    ("Russia", "Moscow"), ("Turkey", "Ankara"), ("Iran", "Tehran"), ("Thailand", "Bangkok"),
    ("Vietnam", "Hanoi"), ("Australia", "Canberra"),
]
OPPOSITES = [
    ("hot", "cold"), ("big", "small"), ("fast", "slow"), ("up", "down"), ("open", "closed"), ("light", "dark"),
    ("happy", "sad"), ("early", "late"), ("full", "empty"), ("hard", "soft"), ("high", "low"), ("long", "short"),
    ("old", "new"), ("rich", "poor"), ("strong", "weak"), ("thick", "thin"), ("wet", "dry"), ("loud", "quiet"),
    ("near", "far"), ("clean", "dirty"), ("heavy", "light"), ("inside", "outside"), ("first", "last"),
    ("left", "right"), ("true", "false"), ("win", "lose"), ("begin", "end"), ("push", "pull"), ("buy", "sell"),
    ("day", "night"),
]
COLOURS = [
    ("banana", "yellow"), ("lemon", "yellow"), ("sky", "blue"), ("sea", "blue"), ("grass", "green"),
    ("leaf", "green"), ("frog", "green"), ("snow", "white"), ("milk", "white"), ("cloud", "white"),
    ("coal", "black"), ("crow", "black"), ("tomato", "red"), ("strawberry", "red"), ("cherry", "red"),
    ("orange", "orange"), ("carrot", "orange"), ("pumpkin", "orange"), ("plum", "purple"), ("grape", "purple"),
    ("chocolate", "brown"), ("bear", "brown"), ("mouse", "grey"), ("elephant", "grey"),
]
SOUNDS = [
    ("cow", "moo"), ("dog", "woof"), ("cat", "meow"), ("duck", "quack"), ("sheep", "baa"), ("pig", "oink"),
    ("owl", "hoot"), ("horse", "neigh"), ("snake", "hiss"), ("bee", "buzz"), ("lion", "roar"), ("mouse", "squeak"),
    ("frog", "croak"), ("crow", "caw"), ("goat", "bleat"), ("donkey", "bray"),
]
PLURALS = [
    ("cat", "cats"), ("dog", "dogs"), ("tree", "trees"), ("house", "houses"), ("book", "books"), ("car", "cars"),
    ("river", "rivers"), ("apple", "apples"), ("bird", "birds"), ("road", "roads"), ("box", "boxes"),
    ("bus", "buses"), ("glass", "glasses"), ("dish", "dishes"), ("church", "churches"), ("fox", "foxes"),
    ("city", "cities"), ("baby", "babies"), ("story", "stories"), ("party", "parties"), ("lady", "ladies"),
    ("man", "men"), ("woman", "women"), ("child", "children"), ("mouse", "mice"), ("foot", "feet"),
    ("tooth", "teeth"), ("goose", "geese"), ("sheep", "sheep"), ("fish", "fish"), ("leaf", "leaves"),
    ("knife", "knives"), ("wolf", "wolves"),
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WORDS = [
    "apple", "river", "blue", "stone", "happy", "green", "table", "window", "cloud", "small", "garden", "music",
    "yellow", "paper", "quiet", "forest", "silver", "bread", "little", "mountain", "red", "chair", "bright",
    "ocean", "cat", "dog", "tree", "house", "book", "sun", "moon", "star", "road", "bird", "fish", "lamp",
]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve"]


def _capital(r: random.Random) -> dict:
    country, city = r.choice(CAPITALS)
    q = r.choice([
        f"What is the capital of {country}?",
        f"Name the capital city of {country}.",
        f"Which city is the capital of {country}?",
        f"Tell me the capital of {country}.",
    ])
    a = r.choice([f"The capital of {country} is {city}.", f"{city} is the capital of {country}."])
    return {"instruction": q, "input": "", "output": a}


def _capital_reverse(r: random.Random) -> dict:
    country, city = r.choice(CAPITALS)
    q = r.choice([f"{city} is the capital of which country?", f"Which country has {city} as its capital?"])
    return {"instruction": q, "input": "", "output": f"{city} is the capital of {country}."}


def _opposite(r: random.Random) -> dict:
    a, b = r.choice(OPPOSITES)
    if r.random() < 0.5:
        a, b = b, a
    if r.random() < 0.5:
        q = r.choice(["Give the opposite of the word.", "Write the antonym of the word.",
                      "What is the opposite of this word?"])
        return {"instruction": q, "input": a, "output": f"The opposite of {a} is {b}."}
    return {"instruction": f"What is the opposite of {a}?", "input": "", "output": f"The opposite of {a} is {b}."}


def _colour(r: random.Random) -> dict:
    thing, colour = r.choice(COLOURS)
    art = "an" if thing[0] in "aeiou" else "a"
    the = "the" if thing in ("sky", "sea", "grass", "snow", "milk", "coal", "chocolate") else art
    q = r.choice([f"What colour is {the} {thing}?", f"What is the colour of {the} {thing}?",
                  f"Tell me the colour of {the} {thing}."])
    return {"instruction": q, "input": "", "output": f"{the.capitalize()} {thing} is {colour}."}


def _sound(r: random.Random) -> dict:
    animal, sound = r.choice(SOUNDS)
    art = "an" if animal[0] in "aeiou" else "a"
    q = r.choice([f"What sound does {art} {animal} make?", f"What does {art} {animal} say?",
                  f"Which sound does {art} {animal} make?"])
    return {"instruction": q, "input": "", "output": f"{art.capitalize()} {animal} says {sound}."}


def _plural(r: random.Random) -> dict:
    one, many = r.choice(PLURALS)
    if r.random() < 0.7:
        q = r.choice(["Write the plural of the noun.", "Give the plural form of the word."])
        return {"instruction": q, "input": one, "output": f"The plural of {one} is {many}."}
    return {"instruction": f"What is the plural of {one}?", "input": "", "output": f"The plural of {one} is {many}."}


def _next_in_cycle(r: random.Random) -> dict:
    names, kind = (DAYS, "day") if r.random() < 0.5 else (MONTHS, "month")
    i = r.randrange(len(names))
    if r.random() < 0.5:
        return {"instruction": f"Which {kind} comes after {names[i]}?", "input": "",
                "output": f"{names[(i + 1) % len(names)]} comes after {names[i]}."}
    return {"instruction": f"Which {kind} comes before {names[i]}?", "input": "",
            "output": f"{names[i - 1]} comes before {names[i]}."}


def _add(r: random.Random) -> dict:
    a, b = r.randrange(0, 30), r.randrange(0, 30)
    if r.random() < 0.5:
        return {"instruction": "Add the two numbers.", "input": f"{a} + {b}", "output": f"{a} + {b} = {a + b}"}
    return {"instruction": f"What is {a} plus {b}?", "input": "", "output": f"{a} plus {b} is {a + b}."}


def _subtract(r: random.Random) -> dict:
    a = r.randrange(5, 40)
    b = r.randrange(0, a + 1)
    return {"instruction": "Subtract the second number from the first.", "input": f"{a} - {b}",
            "output": f"{a} - {b} = {a - b}"}


def _number_word(r: random.Random) -> dict:
    n = r.randrange(len(NUMBER_WORDS))
    if r.random() < 0.5:
        return {"instruction": "Write the number in words.", "input": str(n), "output": NUMBER_WORDS[n]}
    return {"instruction": "Write the word as a number.", "input": NUMBER_WORDS[n], "output": str(n)}


def _sequence(r: random.Random) -> dict:
    start, step = r.randrange(0, 20), r.randrange(1, 6)
    seq = [start + step * k for k in range(6)]
    return {"instruction": "Continue the sequence with the next two numbers.",
            "input": ", ".join(map(str, seq[:4])), "output": ", ".join(map(str, seq[4:]))}


def _sort_numbers(r: random.Random) -> dict:
    xs = r.sample(range(1, 50), r.randrange(3, 6))
    if r.random() < 0.5:
        return {"instruction": "Sort the numbers from smallest to largest.", "input": " ".join(map(str, xs)),
                "output": " ".join(map(str, sorted(xs)))}
    return {"instruction": "Sort the numbers from largest to smallest.", "input": " ".join(map(str, xs)),
            "output": " ".join(map(str, sorted(xs, reverse=True)))}


def _reverse_words(r: random.Random) -> dict:
    ws = r.sample(WORDS, r.randrange(3, 6))
    return {"instruction": "Reverse the order of the words.", "input": " ".join(ws),
            "output": " ".join(reversed(ws))}


def _sort_words(r: random.Random) -> dict:
    ws = r.sample(WORDS, r.randrange(3, 6))
    return {"instruction": "Sort the words in alphabetical order.", "input": " ".join(ws),
            "output": " ".join(sorted(ws))}


def _count_words(r: random.Random) -> dict:
    ws = r.sample(WORDS, r.randrange(2, 9))
    return {"instruction": "How many words are in the text?", "input": " ".join(ws),
            "output": f"There are {NUMBER_WORDS[len(ws)]} words."}


def _first_last(r: random.Random) -> dict:
    ws = r.sample(WORDS, r.randrange(3, 6))
    which = r.choice(["first", "last"])
    w = ws[0] if which == "first" else ws[-1]
    return {"instruction": f"What is the {which} word?", "input": " ".join(ws), "output": f"The {which} word is {w}."}


def _upper(r: random.Random) -> dict:
    w = r.choice(WORDS)
    return {"instruction": "Write the word in capital letters.", "input": w, "output": w.upper()}


def _repeat(r: random.Random) -> dict:
    w, n = r.choice(WORDS), r.randrange(2, 5)
    return {"instruction": f"Repeat the word {NUMBER_WORDS[n]} times.", "input": w, "output": " ".join([w] * n)}


# task, weight: the fact tasks are small tables (learnt by heart), the rest draw fresh combinations
TASKS = [
    (_capital, 3), (_capital_reverse, 1), (_opposite, 3), (_colour, 2), (_sound, 2), (_plural, 2),
    (_next_in_cycle, 2), (_add, 3), (_subtract, 1), (_number_word, 1), (_sequence, 2), (_sort_numbers, 2),
    (_reverse_words, 2), (_sort_words, 1), (_count_words, 1), (_first_last, 2), (_upper, 1), (_repeat, 1),
]


def generate(n: int = N_EXAMPLES, seed: int = SEED) -> list[dict]:
    """`n` distinct examples (no exact duplicate, so a held-out split is never a copy of a training line)."""
    r = random.Random(seed)
    funcs = [f for f, w in TASKS for _ in range(w)]
    seen: set[str] = set()
    out: list[dict] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 100 * n:
            raise RuntimeError("the task tables are too small for this many distinct examples")
        ex = r.choice(funcs)(r)
        key = json.dumps(ex, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        out.append(ex)
    return out


N_PAIRS = 600
PAIRS_OUT = OUT.with_name("demo_pairs.jsonl")
KTO_OUT = OUT.with_name("demo_kto.jsonl")


def _prompt(ex: dict) -> str:
    return ex["instruction"] + (f"\n\n{ex['input']}" if ex["input"] else "")


def preference_pairs(examples: list[dict]) -> list[dict]:
    """Pairs from the demo examples: the right answer chosen, and rejected the answer to another example of the
    same task (same instruction) that differs: a plausible answer in the right form, but wrong for this input."""
    by_task: dict[str, list[dict]] = {}
    for ex in examples:
        by_task.setdefault(ex["instruction"], []).append(ex)
    pairs = []
    for ex in examples:
        others = [o["output"] for o in by_task[ex["instruction"]] if o["output"] != ex["output"]]
        if others:
            pairs.append({"prompt": _prompt(ex), "chosen": ex["output"],
                          "rejected": others[len(pairs) % len(others)]})
        if len(pairs) == N_PAIRS:
            break
    return pairs


def unpaired(pairs: list[dict]) -> list[dict]:
    """KTO's form: each pair's chosen answer as a desirable row on even pairs, its rejected one as undesirable on
    odd pairs (unpaired: no prompt has both)."""
    return [{"prompt": p["prompt"], "completion": p["chosen"] if i % 2 == 0 else p["rejected"], "label": i % 2 == 0}
            for i, p in enumerate(pairs)]


def render(examples: list[dict]) -> str:
    return "".join(json.dumps(ex, ensure_ascii=False) + "\n" for ex in examples)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only compare with the committed file")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    examples = generate()
    pairs = preference_pairs(examples)
    outputs = [(args.out, render(examples))]
    if args.out == OUT:
        outputs += [(PAIRS_OUT, render(pairs)), (KTO_OUT, render(unpaired(pairs)))]
    status = 0
    for out, text in outputs:
        if args.check:
            same = out.exists() and out.read_text(encoding="utf-8") == text
            print(f"{out}: {'up to date' if same else 'DIFFERS from the generator'}")
            status |= 0 if same else 1
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}: {text.count(chr(10))} rows, {len(text.encode()) / 1024:.1f} KiB")
    return status


if __name__ == "__main__":
    sys.exit(main())
