"""Text to search terms, for articles and for requests alike. Pure.

Chinese is written without spaces, so a run of CJK characters is cut into words by jieba
(``cut_for_search`` also yields the short words inside long ones: 打印机 → 打印, 打印机) and,
in the ``both`` mode, into overlapping character pairs as well, which catch what the
dictionary cuts differently (a typo such as 打印几 still shares 打印). Latin words are
lower-cased and stemmed (Snowball), numbers of three digits or more are kept (error codes
such as 809 or 0x80070005 say more than any word). Common misspellings requesters write
(登陆 for 登录, 帐号 for 账号) are folded first.

Every term is a run of letters and digits only, so SQLite's unicode61 tokenizer and
PostgreSQL's ``simple`` configuration see exactly one token per term.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterator

SEGMENTERS = ("both", "jieba", "bigram")
MAX_TEXT = 20_000  # characters of a request read for terms; the start says what it is about
MAX_TERM = 64  # longer "words" (a hash, a base64 line) say nothing a person would search for

# Spellings requesters use for the same thing: folded before cutting, so both find each other.
VARIANTS = {
    "登陆": "登录",
    "帐号": "账号",
    "帐户": "账号",
    "账户": "账号",
    "用户名": "账号",
    "密吗": "密码",
    "打印几": "打印机",
    "夹纸": "卡纸",
    "无线网": "wifi",
    "无线网络": "wifi",
    "wi-fi": "wifi",
    "wlan": "wifi",
    "e-mail": "email",
    "log in": "login",
    "log on": "login",
    "logon": "login",
    "sign in": "login",
    "outlok": "outlook",
    "vpn连": "vpn 连",
    "掉线": "断开",
}
_VARIANT_RE = re.compile("|".join(re.escape(k) for k in sorted(VARIANTS, key=len, reverse=True)))

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# CJK characters are word characters too: "outlook登录不了" must split where the script changes.
_TOKEN = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<word>[^\W_{_CJK}]+)")
_ASCII = re.compile(r"[a-z0-9]+")

_ENGLISH = """a an and are as at be but by can cannot could do does doesn't don't for from get got
    has have hello help hi how i i'm if in into is it it's its me my no not of on or our please so
    that the their them then there this to today too up us was we were what when where which who
    why will with would you your thanks thank regards best dear team support issue problem
    ticket still again also just now any some all one"""
_CHINESE = """的 了 是 我 你 他 她 它 们 我们 你们 在 和 与 或 也 都 就 还
    又 很 太 把 被 让 给 从 对 吗 呢 吧 啊 呀 么 一下 一个 这个
    那个 这 那 有 没 没有 不 不是 可以 能 能够 会 要 想 请 请问 您好
    你好 谢谢 麻烦 帮忙 一直 已经 现在 今天 昨天 刚才 然后 但是 但 如果
    因为 所以 问题 情况 怎么 怎么办 什么 为什么 如何 之前 以后 时候 出现
    显示 提示 感谢 辛苦 同事 这样 那样 里 上 下 中 后 前 说"""
STOP_WORDS = frozenset(_ENGLISH.split())
CJK_STOP_WORDS = frozenset(_CHINESE.split())


def terms(text: str, segmenter: str = "both") -> list[str]:
    """The search terms of ``text``, in order, repeated as often as they occur."""
    text = fold(text[:MAX_TEXT])
    found: list[str] = []
    for match in _TOKEN.finditer(text):
        if match.group("cjk"):
            found.extend(_cjk_terms(match.group("cjk"), segmenter))
        elif len(match.group("word")) <= MAX_TERM:
            found.extend(_word_terms(match.group("word")))
    return found


def fold(text: str) -> str:
    """Compatibility forms (full-width letters, ligatures) unified, lower case, variants folded."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _VARIANT_RE.sub(lambda m: VARIANTS[m.group(0)], text)


def _word_terms(word: str) -> Iterator[str]:
    # A "word" may mix scripts (abc123, café); Latin runs are stemmed, anything else kept whole.
    for part in _ASCII.findall(word) if word.isascii() else [word]:
        if part in STOP_WORDS:
            continue
        if part.isdigit():
            if len(part) >= 3:
                yield part
            continue
        if len(part) < 2:
            continue
        yield _stem(part) if part.isascii() else part


def _cjk_terms(run: str, segmenter: str) -> Iterator[str]:
    if segmenter in ("jieba", "both"):
        for word in _cut(run):
            if len(word) >= 2 and word not in CJK_STOP_WORDS:
                yield word
    if segmenter in ("bigram", "both"):
        for index in range(len(run) - 1):
            pair = run[index : index + 2]
            if pair not in CJK_STOP_WORDS and not _has_particle(pair):
                yield pair


# Pairs with a grammatical particle on either side are mostly noise (的问, 了吗).
_PARTICLES = frozenset("的了吗呢吧啊呀么着过")


def _has_particle(pair: str) -> bool:
    return pair[0] in _PARTICLES or pair[1] in _PARTICLES


@functools.cache
def _segmenter() -> Callable[[str], list[str]]:
    # jieba loads a 350,000-word dictionary (about 1.5 s and 80 MB): only when first needed.
    import jieba  # noqa: PLC0415

    jieba.setLogLevel(60)
    return lambda run: jieba.lcut_for_search(run, HMM=False)


def _cut(run: str) -> list[str]:
    return _segmenter()(run)


@functools.cache
def _stemmer() -> Callable[[str], str]:
    import snowballstemmer  # noqa: PLC0415

    stemmer = snowballstemmer.stemmer("english")
    return stemmer.stemWord  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer()(word)
