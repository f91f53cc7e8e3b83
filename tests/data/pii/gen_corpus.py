#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes tests/data/pii/cases.jsonl: the labelled PII corpus.

Each line is {"text": ..., "expect": [{"type": ..., "value": ...}]}, where
"value" is the exact substring the guard must report (the span), and an
empty "expect" is a near-miss or clean text that must yield nothing.

Values are generated valid (Luhn, mod-97, SSA ranges) or deliberately
invalid for near-misses; the sentences around them are hand-written and
varied (chat prompts, logs, emails, config snippets, support tickets).
Deterministic: the same script always writes the same file.

    python3 tests/data/pii/gen_corpus.py > tests/data/pii/cases.jsonl
"""
import json
import random
import string
import sys

rng = random.Random(20261124)


def luhn_complete(prefix, length):
    digits = [int(c) for c in prefix]
    while len(digits) < length - 1:
        digits.append(rng.randrange(10))
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    digits.append((10 - total % 10) % 10)
    return "".join(map(str, digits))


def luhn_ok(num):
    total = 0
    for i, c in enumerate(reversed(num)):
        d = int(c)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def group(num, sizes, sep):
    out, i = [], 0
    for s in sizes:
        out.append(num[i:i + s])
        i += s
    if i < len(num):
        out.append(num[i:])
    return sep.join(out)


def card():
    kind = rng.choice(["visa", "mc", "mc2", "amex", "disc"])
    if kind == "visa":
        n = luhn_complete("4" + str(rng.randrange(100, 999)), 16)
    elif kind == "mc":
        n = luhn_complete(str(rng.randrange(51, 56)), 16)
    elif kind == "mc2":
        n = luhn_complete(str(rng.randrange(2221, 2721)), 16)
    elif kind == "amex":
        n = luhn_complete(rng.choice(["34", "37"]), 15)
    else:
        n = luhn_complete("6011", 16)
    style = rng.choice(["space", "dash", "plain"])
    if style == "plain":
        return n
    sizes = [4, 6, 5] if len(n) == 15 else [4, 4, 4, 4]
    return group(n, sizes, " " if style == "space" else "-")


def bad_card():
    n = card()
    digits = [c for c in n if c.isdigit()]
    # Change the last digit so Luhn fails.
    last = int(digits[-1])
    repl = str((last + rng.randrange(1, 10)) % 10)
    return n[:-1] + repl


def ssn():
    while True:
        area = rng.randrange(1, 900)
        if area != 666:
            break
    g = rng.randrange(1, 100)
    s = rng.randrange(1, 10000)
    sep = rng.choice(["-", "-", " "])
    return f"{area:03d}{sep}{g:02d}{sep}{s:04d}"


def bad_ssn():
    area, g, s = rng.randrange(1, 900), rng.randrange(1, 100), rng.randrange(1, 10000)
    which = rng.randrange(5)
    if which == 0:
        area = 0
    elif which == 1:
        area = 666
    elif which == 2:
        area = rng.randrange(900, 1000)
    elif which == 3:
        g = 0
    else:
        s = 0
    return f"{area:03d}-{g:02d}-{s:04d}"


IBAN_LENS = {"DE": 22, "GB": 22, "FR": 27, "ES": 24, "IT": 27, "NL": 18, "BE": 16,
             "CH": 21, "AT": 20, "PL": 28, "SE": 24, "IE": 22, "PT": 25, "NO": 15, "DK": 18}


def iban_check(cc, bban):
    s = bban + cc + "00"
    num = "".join(str(int(c, 36)) for c in s)
    return f"{98 - int(num) % 97:02d}"


def iban(valid=True):
    cc = rng.choice(sorted(IBAN_LENS))
    n = IBAN_LENS[cc] - 4
    if cc in ("GB", "NL", "IE"):
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + \
            "".join(rng.choice(string.digits) for _ in range(n - 4))
    else:
        bban = "".join(rng.choice(string.digits) for _ in range(n))
    chk = iban_check(cc, bban)
    if not valid:
        chk = f"{(int(chk) + rng.randrange(1, 90)) % 100:02d}"
        if chk == iban_check(cc, bban):
            chk = f"{(int(chk) + 1) % 100:02d}"
    compact = cc + chk + bban
    if rng.random() < 0.5:
        return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))
    return compact


FIRST = ["anna", "bob", "carlos", "dmitri", "eve", "fatima", "george", "hiro", "ines", "jamal",
         "kate", "li.wei", "maria.garcia", "noah", "olga", "priya", "quentin", "rosa", "sven",
         "tomás"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "uni.example.ac.uk",
           "example.io", "shop.example.de", "example.co.jp", "dev.example.app"]


def email():
    name = rng.choice(FIRST)
    if not name.isascii():
        name = "tomas"
    style = rng.randrange(4)
    if style == 0:
        local = name
    elif style == 1:
        local = f"{name}.{rng.choice(['smith', 'lee', 'k', 'ops'])}"
    elif style == 2:
        local = f"{name}{rng.randrange(1, 99)}"
    else:
        local = f"{name}+{rng.choice(['news', 'billing', 'test'])}"
    return f"{local}@{rng.choice(DOMAINS)}"


def phone():
    style = rng.randrange(8)
    a, e, l = rng.randrange(201, 990), rng.randrange(200, 999), rng.randrange(0, 10000)
    if style == 0:
        return f"({a}) {e}-{l:04d}"
    if style == 1:
        return f"{a}-{e}-{l:04d}"
    if style == 2:
        return f"{a}.{e}.{l:04d}"
    if style == 3:
        return f"+1 {a} {e} {l:04d}"
    if style == 4:
        return f"+1{a}{e}{l:04d}"
    if style == 5:
        return rng.choice(["+44 20 7946 0958", "+44 161 496 0753", "+33 1 42 68 53 00",
                           "+49 30 901820", "+61 2 9876 5432", "+81 3-1234-5678",
                           "+34 912 345 678", "+91 98765 43210"])
    if style == 6:
        return rng.choice(["020 7946 0958", "0161 496 0753", "01 42 68 53 00", "06 12 34 56 78"])
    return f"1-800-{e}-{l:04d}"


def ipv4():
    return ".".join(str(x) for x in [rng.choice([10, 172, 192, 203, 198, 8, 100]),
                                      rng.randrange(0, 256), rng.randrange(0, 256),
                                      rng.randrange(1, 255)])


def ipv6():
    return rng.choice(["2001:db8::1", "2001:db8:85a3::8a2e:370:7334", "fe80::1ff:fe23:4567:890a",
                       "::1", "2001:0db8:0000:0000:0000:ff00:0042:8329", "::ffff:192.0.2.128",
                       "2606:4700:4700::1111"])


def rand(chars, n):
    return "".join(rng.choice(chars) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"


def secret():
    k = rng.randrange(9)
    if k == 0:
        return "sk-" + rand(ALNUM, 48)
    if k == 1:
        return "sk-proj-" + rand(B64URL, 64)
    if k == 2:
        return "sk-ant-api03-" + rand(B64URL, 80)
    if k == 3:
        return rng.choice(["AKIA", "ASIA"]) + rand(string.ascii_uppercase + string.digits, 16)
    if k == 4:
        return rng.choice(["ghp_", "gho_", "ghs_"]) + rand(ALNUM, 36)
    if k == 5:
        return "xoxb-" + rand(string.digits, 12) + "-" + rand(string.digits, 12) + "-" + rand(ALNUM, 24)
    if k == 6:
        return "AIza" + rand(B64URL, 35)
    if k == 7:
        return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + rand(B64URL, 40) + "." + rand(B64URL, 43)
    return "github_pat_" + rand(ALNUM + "_", 82)


POS = {
    "email": [
        "Please send the invoice to {v} by Friday.",
        "hi, my email is {v} — can you reset my password?",
        "From: {v}\nSubject: quarterly numbers",
        "Contact: {v}",
        "cc {v} and {w} on the thread",
        "User {v} reported the bug in ticket #4521.",
        '{{"user": "{v}", "plan": "pro"}}',
        "Reply-To: <{v}>",
    ],
    "phone": [
        "Call me at {v} after 5pm.",
        "My number is {v}, text is fine.",
        "Support hotline: {v}",
        "phone={v}",
        "You can reach the front desk on {v} or by email.",
        "Emergency contact: Maria, {v}.",
        "Fax {v} (rarely used)",
    ],
    "card": [
        "My card number is {v}, expiry 09/27.",
        "charge {v} for the annual plan",
        "Card: {v} CVV 123",
        "please refund to {v}",
        "payment failed for card {v} at checkout",
        "number: {v}\nexp: 11/26",
    ],
    "ssn": [
        "My SSN is {v}.",
        "SSN: {v}",
        "social security number {v} for the tax form",
        "Applicant ssn={v}, DOB 1984-03-02",
        "Employee record: name J. Doe, SSN {v}, dept 7",
    ],
    "iban": [
        "Please wire the deposit to IBAN {v}.",
        "IBAN: {v}",
        "Bank details — {v} (BIC DEUTDEFF)",
        "refund to account {v} please",
        "Transfer 250 EUR to {v} reference INV-2291",
    ],
    "ip": [
        "The server at {v} is down again.",
        "ssh admin@{v} fails with timeout",
        "Blocked requests from {v} in the firewall log",
        "upstream [{v}]:8443 returned 502",
        "client_ip={v} status=403",
        "Ping {v} and tell me the latency.",
    ],
    "secret": [
        "my key is {v} why doesn't it work",
        "export API_KEY={v}",
        "Authorization: Bearer {v}",
        "config.yaml:\n  token: {v}\n  region: eu",
        "I accidentally committed {v} to the repo",
        '{{"api_key": "{v}"}}',
        "use this: {v}",
    ],
}

GEN = {"email": email, "phone": phone, "card": card, "ssn": ssn, "iban": iban,
       "ip": lambda: ipv4() if rng.random() < 0.65 else ipv6(), "secret": secret}

NEAR = [
    # cards failing Luhn or with no network prefix
    lambda: f"My card number is {bad_card()}, is that right?",
    lambda: f"order id 1234 5678 9012 3456 shipped",
    lambda: f"tracking number {rng.randrange(10**15, 10**16)}{rng.randrange(100, 999)} arrived",
    # invalid SSNs
    lambda: f"SSN {bad_ssn()} was rejected by the form",
    # invalid IBANs
    lambda: f"IBAN {iban(valid=False)} fails validation",
    # versions, out-of-range octets, dotted numbers
    lambda: f"Upgrade to version {rng.randrange(1, 9)}.{rng.randrange(0, 20)}.{rng.randrange(0, 9)}.{rng.randrange(0, 99)} today",
    lambda: f"running v{rng.randrange(1, 5)}.{rng.randrange(0, 9)}.{rng.randrange(0, 9)}.{rng.randrange(0, 9)}",
    lambda: f"bad address {rng.randrange(256, 999)}.{rng.randrange(0, 255)}.1.1 in config",
    lambda: f"OID 1.3.6.1.4.1.{rng.randrange(1000, 9999)} in the MIB",
    lambda: f"pi is 3.14159 and e is 2.71828",
    # dates and times
    lambda: f"Meeting on {rng.randrange(2019, 2030)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d} at {rng.randrange(0, 24):02d}:{rng.randrange(0, 60):02d}",
    lambda: f"born {rng.randrange(1, 13):02d}/{rng.randrange(1, 29):02d}/{rng.randrange(1950, 2010)}",
    lambda: f"timestamp 2024-05-17T10:22:31Z elapsed 00:01:45",
    # ISBNs
    lambda: rng.choice(["ISBN 978-3-16-148410-0 is on the shelf", "isbn 0-306-40615-2",
                        "ISBN-13: 978-0-596-52068-7", "see ISBN 979-10-90636-07-1"]),
    # emails that are not
    lambda: rng.choice(["ping @channel about the deploy", "user@localhost works in dev",
                        "decorators like @property and @staticmethod",
                        "icon file logo@2x is missing", "email me at name (at) example dot com"]),
    # phones that are not
    lambda: f"order #{rng.randrange(10**9, 10**10)} confirmed",
    lambda: f"the range is 100-200-3000 units",
    lambda: f"invoice INV-{rng.randrange(100, 999)}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}x",
    # secret-looking words
    lambda: rng.choice(["install sk-learn and pandas", "the task-list is long",
                        "ghp_ prefix means a GitHub token", "AKIA is the AWS key prefix",
                        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
                        "eyJ is how base64 JSON starts", "xoxb- tokens are bot tokens"]),
    # IPv6-like text
    lambda: rng.choice(["std::vector<int> v;", "time 12:30:45", "MAC 00:1A:2B:3C:4D:5E",
                        "ratio 16:9 and 4:3", "Foo::Bar::baz()"]),
    # clean text
    lambda: rng.choice(["Summarize this article about climate policy in three bullets.",
                        "What's the difference between TCP and UDP?",
                        "Translate 'good morning' into Japanese.",
                        "Write a haiku about autumn leaves.",
                        "The meeting moved to room 4B on floor 12.",
                        "We sold 1,234,567 units in Q3, up 12.5%."]),
]


def main():
    cases = []
    for t, templates in POS.items():
        for i in range(24):
            tpl = templates[i % len(templates)]
            v = GEN[t]()
            expect = [{"type": t, "value": v}]
            if "{w}" in tpl:
                w = GEN[t]()
                expect.append({"type": t, "value": w})
                text = tpl.format(v=v, w=w)
            else:
                text = tpl.format(v=v)
            cases.append({"text": text, "expect": expect})
    # Mixed: several types in one realistic message.
    for _ in range(24):
        e, p, c = email(), phone(), card()
        tpl = rng.choice([
            "Hi, I'm Dana ({e}, {p}). Please charge {c} for the upgrade.",
            "Customer: {e}\nPhone: {p}\nCard on file: {c}",
            "Ticket: user {e} called from {p} disputing a charge on {c}.",
        ])
        cases.append({"text": tpl.format(e=e, p=p, c=c),
                      "expect": [{"type": "email", "value": e}, {"type": "phone", "value": p},
                                 {"type": "card", "value": c}]})
    for _ in range(8):
        s, ip = secret(), ipv4()
        cases.append({"text": f"curl -H 'Authorization: Bearer {s}' http://{ip}/v1/models",
                      "expect": [{"type": "secret", "value": s}, {"type": "ip", "value": ip}]})
    for i in range(len(NEAR) * 4):
        cases.append({"text": NEAR[i % len(NEAR)](), "expect": []})
    for c in cases:
        sys.stdout.write(json.dumps(c, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
