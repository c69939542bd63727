"""Regenerate ``browser_user_agents.txt``: real-world-shaped browser user agents, no bots.

No installed package ships a corpus of browser user agents, so this builds one from the formats
the browsers document and send (Chrome's reduced UA, Firefox's ``rv:``, Safari's ``Version/``,
Edge ``Edg/``, Opera ``OPR/``, Samsung Internet, in-app webviews…) across versions, platforms
and devices. Deterministic: ``python tests/ingest/pipeline/data/make_browser_user_agents.py``.
"""

import random
from collections.abc import Callable
from pathlib import Path

OUTPUT = Path(__file__).with_name("browser_user_agents.txt")
TARGET = 1500

WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
SAFARI_WEBKIT = "AppleWebKit/605.1.15 (KHTML, like Gecko)"

WINDOWS = [
    "Windows NT 10.0; Win64; x64",
    "Windows NT 10.0; WOW64",
    "Windows NT 10.0",
    "Windows NT 6.1; Win64; x64",
    "Windows NT 6.3; Win64; x64",
]
MAC = ["Macintosh; Intel Mac OS X 10_15_7", "Macintosh; Intel Mac OS X 10_15_6"]
LINUX = ["X11; Linux x86_64", "X11; Linux aarch64"]
CROS = ["X11; CrOS x86_64 14541.0.0", "X11; CrOS x86_64 15633.69.0", "X11; CrOS aarch64 15359.58.0"]
ANDROID_PHONES = [
    "SM-G991B",
    "SM-S918B",
    "SM-A515F",
    "SM-A536B",
    "SM-G973F",
    "Pixel 6",
    "Pixel 7",
    "Pixel 8 Pro",
    "Redmi Note 9 Pro",
    "M2101K6G",
    "2201117TY",
    "CPH2239",
    "moto g(60)",
    "ONEPLUS A6013",
    "V2027",
    "RMX3085",
    "Infinix X6816",
    "TECNO KG5",
    "Nokia G20",
    "HUAWEI P30 lite",
]
ANDROID_TABLETS = ["SM-X700", "SM-T870", "SM-X200", "Lenovo TB-X606F", "KFTRWI", "Pixel Tablet"]
ANDROID_BUILDS = ["TP1A.220624.014", "UP1A.231005.007", "AP2A.240805.005", "SP1A.210812.016"]
IOS = ["15_8", "16_6", "16_7_8", "17_0", "17_4_1", "17_5_1", "17_6", "18_0", "18_1", "18_2"]


def chrome_version(r: random.Random) -> str:
    major = r.randint(80, 131)
    if major >= 101 and r.random() < 0.8:
        return f"{major}.0.0.0"  # the reduced user agent
    return f"{major}.0.{r.randint(4000, 6800)}.{r.randint(10, 250)}"


def chrome_desktop(r: random.Random) -> str:
    platform = r.choice(WINDOWS + MAC + LINUX + CROS)
    return f"Mozilla/5.0 ({platform}) {WEBKIT} Chrome/{chrome_version(r)} Safari/537.36"


def android(r: random.Random, *, tablet: bool = False) -> str:
    version = r.randint(8, 15)
    if not tablet and r.random() < 0.5:
        return f"Linux; Android {version}; K"  # Chrome's reduced Android platform
    model = r.choice(ANDROID_TABLETS if tablet else ANDROID_PHONES)
    return f"Linux; Android {version}; {model}"


def chrome_android(r: random.Random) -> str:
    tablet = r.random() < 0.15
    mobile = "Safari/537.36" if tablet else "Mobile Safari/537.36"
    return f"Mozilla/5.0 ({android(r, tablet=tablet)}) {WEBKIT} Chrome/{chrome_version(r)} {mobile}"


def android_webview(r: random.Random) -> str:
    platform = f"{android(r)} Build/{r.choice(ANDROID_BUILDS)}; wv"
    return (
        f"Mozilla/5.0 ({platform}) {WEBKIT} Version/4.0 Chrome/{chrome_version(r)} "
        "Mobile Safari/537.36"
    )


def ios_platform(r: random.Random) -> str:
    version = r.choice(IOS)
    if r.random() < 0.2:
        return f"iPad; CPU OS {version} like Mac OS X"
    return f"iPhone; CPU iPhone OS {version} like Mac OS X"


def safari_ios(r: random.Random) -> str:
    platform = ios_platform(r)
    version = platform.split(" OS ")[1].split(" ")[0].split("_")
    return (
        f"Mozilla/5.0 ({platform}) {SAFARI_WEBKIT} Version/{version[0]}.{version[1]} "
        "Mobile/15E148 Safari/604.1"
    )


def safari_mac(r: random.Random) -> str:
    version = f"{r.randint(14, 18)}.{r.randint(0, 6)}"
    return f"Mozilla/5.0 ({r.choice(MAC)}) {SAFARI_WEBKIT} Version/{version} Safari/605.1.15"


def chrome_ios(r: random.Random) -> str:
    build = f"{r.randint(110, 131)}.0.{r.randint(5000, 6800)}.{r.randint(10, 200)}"
    return (
        f"Mozilla/5.0 ({ios_platform(r)}) {SAFARI_WEBKIT} CriOS/{build} Mobile/15E148 Safari/604.1"
    )


def firefox_desktop(r: random.Random) -> str:
    version = f"{r.randint(78, 132)}.0"
    platform = r.choice(
        [
            *WINDOWS,
            "Macintosh; Intel Mac OS X 10.15",
            "X11; Linux x86_64",
            "X11; Ubuntu; Linux x86_64",
        ]
    )
    return f"Mozilla/5.0 ({platform}; rv:{version}) Gecko/20100101 Firefox/{version}"


def firefox_mobile(r: random.Random) -> str:
    version = f"{r.randint(100, 132)}.0"
    if r.random() < 0.3:
        return (
            f"Mozilla/5.0 ({ios_platform(r)}) {SAFARI_WEBKIT} FxiOS/{version} Mobile/15E148 "
            "Safari/605.1.15"
        )
    kind = "Tablet" if r.random() < 0.15 else "Mobile"
    return (
        f"Mozilla/5.0 (Android {r.randint(9, 15)}; {kind}; rv:{version}) Gecko/{version} "
        f"Firefox/{version}"
    )


def edge(r: random.Random) -> str:
    major = r.randint(90, 131)
    build = f"{major}.0.{r.randint(1000, 2900)}.{r.randint(10, 130)}"
    roll = r.random()
    if roll < 0.6:
        platform = r.choice(WINDOWS + MAC)
        return f"Mozilla/5.0 ({platform}) {WEBKIT} Chrome/{major}.0.0.0 Safari/537.36 Edg/{build}"
    if roll < 0.8:
        return (
            f"Mozilla/5.0 ({android(r)}) {WEBKIT} Chrome/{major}.0.0.0 Mobile Safari/537.36 "
            f"EdgA/{build}"
        )
    return (
        f"Mozilla/5.0 ({ios_platform(r)}) {SAFARI_WEBKIT} Version/17.0 EdgiOS/{build} "
        "Mobile/15E148 Safari/605.1.15"
    )


def opera(r: random.Random) -> str:
    major = r.randint(90, 131)
    opr = f"{major - 15}.0.{r.randint(3000, 5500)}.{r.randint(10, 200)}"
    if r.random() < 0.3:
        return (
            f"Mozilla/5.0 ({android(r)}) {WEBKIT} Chrome/{major}.0.0.0 Mobile Safari/537.36 "
            f"OPR/{opr}"
        )
    platform = r.choice(WINDOWS + MAC + LINUX)
    return f"Mozilla/5.0 ({platform}) {WEBKIT} Chrome/{major}.0.0.0 Safari/537.36 OPR/{opr}"


def samsung(r: random.Random) -> str:
    version = f"{r.randint(14, 26)}.{r.randint(0, 2)}"
    model = r.choice([m for m in ANDROID_PHONES if m.startswith("SM-")])
    return (
        f"Mozilla/5.0 (Linux; Android {r.randint(9, 14)}; SAMSUNG {model}) {WEBKIT} "
        f"SamsungBrowser/{version} Chrome/{r.randint(90, 125)}.0.0.0 Mobile Safari/537.36"
    )


def other_chromium(r: random.Random) -> str:
    major = r.randint(100, 131)
    base = f"Mozilla/5.0 ({r.choice(WINDOWS + MAC)}) {WEBKIT} Chrome/{major}.0.0.0"
    return r.choice(
        [
            f"{base} YaBrowser/24.{r.randint(1, 12)}.0.0 Safari/537.36",
            f"{base} Safari/537.36 Vivaldi/6.{r.randint(0, 9)}.{r.randint(3000, 3500)}."
            f"{r.randint(10, 60)}",
            f"{base} Safari/537.36 Brave/{major}",
            f"{base} Safari/537.36 Avast/{major}.0.{r.randint(20000, 28000)}.{r.randint(10, 200)}",
        ]
    )


def mobile_other(r: random.Random) -> str:
    chrome = f"Chrome/{r.randint(90, 126)}.0.{r.randint(4000, 6500)}.{r.randint(10, 200)}"
    platform = android(r)
    return r.choice(
        [
            f"Mozilla/5.0 ({platform}) {WEBKIT} Version/4.0 {chrome} UCBrowser/13."
            f"{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(1000, 1400)} Mobile Safari/537.36",
            f"Mozilla/5.0 ({platform}) {WEBKIT} {chrome} HuaweiBrowser/{r.randint(12, 15)}.0."
            f"{r.randint(1, 9)}.{r.randint(300, 399)} Mobile Safari/537.36",
            f"Mozilla/5.0 ({platform}) {WEBKIT} Version/4.0 {chrome} Mobile Safari/537.36 "
            f"XiaoMi/MiuiBrowser/{r.randint(13, 18)}.{r.randint(0, 9)}.{r.randint(1, 30)}-gn",
            f"Mozilla/5.0 ({platform}) {WEBKIT} {chrome} Mobile Safari/537.36 "
            f"DuckDuckGo/{r.randint(5, 6)}",
            f"Mozilla/5.0 ({ios_platform(r)}) {SAFARI_WEBKIT} Version/17.0 Mobile/15E148 "
            f"DuckDuckGo/{r.randint(7, 8)} Safari/605.1.15",
        ]
    )


def in_app(r: random.Random) -> str:
    platform = ios_platform(r)
    device = f"iPhone{r.randint(12, 16)},{r.randint(1, 5)}"
    return r.choice(
        [
            f"Mozilla/5.0 ({platform}) {SAFARI_WEBKIT} Mobile/15E148 Instagram "
            f"{r.randint(300, 350)}.0.0.{r.randint(10, 60)}.{r.randint(10, 120)} ({device}; "
            f"iOS 17_5; en_US; en; scale=3.00; 1170x2532; {r.randint(500000000, 700000000)})",
            f"Mozilla/5.0 ({platform}) {SAFARI_WEBKIT} Mobile/15E148 [FBAN/FBIOS;FBAV/"
            f"{r.randint(400, 480)}.0.0.{r.randint(10, 60)}.{r.randint(10, 120)};FBBV/"
            f"{r.randint(500000000, 700000000)};FBDV/{device};FBMD/iPhone;FBSN/iOS;FBSV/17.5;"
            "FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]",
            f"Mozilla/5.0 ({android(r)} Build/{r.choice(ANDROID_BUILDS)}; wv) {WEBKIT} "
            f"Version/4.0 Chrome/{chrome_version(r)} Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/"
            f"{r.randint(400, 480)}.0.0.{r.randint(10, 60)}.{r.randint(10, 120)};]",
            f"Mozilla/5.0 ({platform}) {SAFARI_WEBKIT} Mobile/15E148 LinkedInApp/"
            f"9.{r.randint(20, 30)}.{r.randint(100, 9000)}",
            f"Mozilla/5.0 ({platform}) {SAFARI_WEBKIT} Mobile/15E148 Twitter for iPhone/"
            f"10.{r.randint(30, 70)}",
        ]
    )


def legacy(r: random.Random) -> str:
    return r.choice(
        [
            "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko",
            "Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko",
            "Mozilla/5.0 (Windows NT 6.3; Win64; x64; Trident/7.0; rv:11.0) like Gecko",
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {WEBKIT} Chrome/70.0.3538.102 "
            f"Safari/537.36 Edge/18.{r.randint(17000, 19045)}",
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {WEBKIT} Chrome/64.0.3282.140 "
            f"Safari/537.36 Edge/17.{r.randint(17000, 17200)}",
        ]
    )


GENERATORS: list[tuple[Callable[[random.Random], str], int]] = [
    (chrome_desktop, 24),
    (chrome_android, 16),
    (android_webview, 4),
    (safari_ios, 12),
    (safari_mac, 6),
    (chrome_ios, 4),
    (firefox_desktop, 10),
    (firefox_mobile, 4),
    (edge, 8),
    (opera, 4),
    (samsung, 4),
    (other_chromium, 4),
    (mobile_other, 4),
    (in_app, 5),
    (legacy, 1),
]


def generate(target: int = TARGET, seed: int = 20240601) -> list[str]:
    rng = random.Random(seed)
    functions = [f for f, _ in GENERATORS]
    weights = [w for _, w in GENERATORS]
    seen: dict[str, None] = {}
    while len(seen) < target:
        generator = rng.choices(functions, weights)[0]
        seen.setdefault(generator(rng), None)
    return list(seen)


def main() -> None:
    header = [
        "# Browser user agents (no bots) for tests/ingest/pipeline/test_bots.py.",
        "# Generated by make_browser_user_agents.py from the documented formats of each browser.",
    ]
    OUTPUT.write_text("\n".join([*header, *generate()]) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
