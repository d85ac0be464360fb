#!/usr/bin/env python3
"""Make bench/corpus/chat.jsonl: distinct chat-like JSON messages, about 1 KiB on
average, one per line, the same bytes every time (a fixed seed, stdlib only).

usage: python3 bench/corpus/make_chat.py [COUNT]   (default 1000)

Each message is what a chat or notification service sends: ids, a room, the author
with a display name and avatar URL, text drawn from a vocabulary of a few hundred
words, a timestamp, and sometimes mentions, reactions, a reply and an attachment.
"""
import json
import os
import random
import sys

WORDS = """
the a to and of in is it you that for on with this be are have we not at but can
will just so what if about all from they my your one there more when up out do like
time get would know new should need think see make good today team release build
deploy review merge branch test tests failing passing green red ticket issue bug fix
feature flag rollout rollback staging production server client api endpoint latency
p99 dashboard alert page incident postmortem customer ticket support sales meeting
standup sprint planning retro demo design doc spec draft comment approve thanks
sounds great looks good will check later tomorrow morning afternoon evening weekend
lunch coffee call zoom link calendar invite agenda notes action items owner due date
metrics cpu memory disk network queue worker cache redis postgres index migration
schema backup restore region cluster node pod container image registry pipeline
ci job artifact version tag changelog docs guide example benchmark chart report
weather rain sunny cold warm snow traffic train bus bike walk office home remote
""".split()
ROOMS = ["general", "random", "eng-backend", "eng-frontend", "incidents", "releases",
         "support", "design", "sales-emea", "product", "ops", "watercooler"]
NAMES = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov",
         "Donald Knuth", "Margaret Hamilton", "Ken Thompson", "Frances Allen", "Linus T.",
         "Radia Perlman", "John McCarthy", "Hedy Lamarr", "Katherine Johnson"]
EMOJI = ["thumbsup", "tada", "eyes", "rocket", "white_check_mark", "heart", "joy", "fire"]


def sentence(rng):
    words = [rng.choice(WORDS) for _ in range(rng.randint(4, 18))]
    words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice([".", ".", ".", "!", "?"])


def message(rng, i):
    user = rng.randrange(len(NAMES))
    body = {
        "type": "message",
        "id": "%032x" % rng.getrandbits(128),
        "seq": i,
        "room": rng.choice(ROOMS),
        "user": {
            "id": 1000 + user,
            "name": NAMES[user],
            "avatar": "https://cdn.example.com/avatars/%d/%s.png" % (1000 + user, "%016x" % rng.getrandbits(64)),
        },
        "text": " ".join(sentence(rng) for _ in range(rng.choice([2, 4, 6, 8, 11, 16, 22]))),
        "sent_at": "2026-12-%02dT%02d:%02d:%02d.%03dZ" % (
            rng.randint(1, 7), rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59), rng.randint(0, 999)),
    }
    if rng.random() < 0.3:
        body["mentions"] = [1000 + rng.randrange(len(NAMES)) for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.4:
        body["reactions"] = {rng.choice(EMOJI): rng.randint(1, 12) for _ in range(rng.randint(1, 4))}
    if rng.random() < 0.2:
        body["reply_to"] = "%032x" % rng.getrandbits(128)
    if rng.random() < 0.15:
        body["attachment"] = {
            "name": "%s-%d.%s" % (rng.choice(WORDS), rng.randint(1, 99), rng.choice(["png", "pdf", "log", "csv"])),
            "size": rng.randint(1000, 5_000_000),
            "url": "https://files.example.com/%032x" % rng.getrandbits(128),
        }
    return json.dumps(body, separators=(",", ":"))


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rng = random.Random(20261207)
    lines = [message(rng, i) for i in range(count)]
    assert len(set(lines)) == len(lines), "messages are distinct"
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chat.jsonl")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    sizes = [len(line) for line in lines]
    print(f"{out}: {count} messages, {sum(sizes)} bytes, mean {sum(sizes) / count:.0f}, "
          f"min {min(sizes)}, max {max(sizes)}")


if __name__ == "__main__":
    main()
