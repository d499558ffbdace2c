"""What marks the start of quoted history in a reply, in the languages requesters' clients use.

Four kinds of marks, each a line (or two, when a client wrapped it):

- an attribution: "On … wrote:", "Am … schrieb …:", "Le … a écrit :", "Op … schreef …:",
  "Den … skrev …:", "W dniu … napisał(a):", "… пишет:", "Vào … đã viết:", "在 … 写道：",
  and the date-only ones of Yandex and Mail.ru ("25.10.2023, 09:20, "Иван" <i@yandex.ru>:");
- a header block as Outlook and Exchange write it: a From line and, within a few lines, a
  Sent or Date line, in any of the languages below ("Van:/Verzonden:", "Fra:/Sendt:",
  "Från:/Skickat:", "От:/Отправлено:", "发件人：/发送时间：" …);
- a separator: "-----Original Message-----" and its translations, QQ Mail's and Foxmail's
  "------------------ 原始邮件 ------------------", Outlook's line of underscores;
- a forward marker: "---------- Forwarded message ---------", "Begin forwarded message:" and
  translations. A forward is content, not a quote: it is never cut.

The word lists cover every language mail-parser-reply knows (en, de, cs, da, es, fr, it, ja,
ko, nl, pl, sv, zh) plus Norwegian, Russian, Vietnamese, Portuguese, Finnish, Hungarian and
Turkish clients.
"""

from __future__ import annotations

import re

_LEAD = r"^[\s>*]*"  # quote marks and Gmail's bold stars may lead a header line

_FROM_WORDS = (
    "From|Von|De|Van|Fra|Från|Od|Nadawca|От|Отправитель|Da|Mittente|Lähettäjä|Từ|Người gửi|"
    "发件人|發件人|寄件者|寄件人|差出人|보낸 사람|Kimden|Feladó|Expéditeur|Remitente|Afzender|"
    "Avsändare|Odesílatel|Remetente"
)
_SENT_WORDS = (
    "Sent|Date|Gesendet|Datum|Envoyé|Enviado|Enviada|Verzonden|Sendt|Skickat|Wysłano|Data|"
    "Отправлено|Дата|Inviato|Lähetetty|Päivämäärä|Đã gửi|Ngày|Gửi lúc|发送时间|發送時間|日期|"
    "时间|寄件日期|送信日時|日付|보낸 날짜|Gönderildi|Tarih|Elküldve|Dátum|Odesláno|Sendt dato"
)
FROM_LINE = re.compile(_LEAD + r"(?:" + _FROM_WORDS + r")\s*[:：]", re.IGNORECASE)
SENT_LINE = re.compile(_LEAD + r"(?:" + _SENT_WORDS + r")\s*[:：]", re.IGNORECASE)

_ORIGINAL_WORDS = (
    "Original Message|Original|Ursprüngliche Nachricht|Antwort Nachricht|Message d'origine|"
    "Mensaje original|Messaggio originale|Oorspronkelijk bericht|Oprindelig meddelelse|"
    "Opprinnelig melding|Ursprungligt meddelande|Wiadomość oryginalna|Oryginalna wiadomość|"
    "Исходное сообщение|Alkuperäinen viesti|Původní zpráva|Eredeti üzenet|Mensagem original|"
    "原始邮件|原始郵件|原邮件|原始信件|回复的原邮件|元のメッセージ|원본 메시지|Tin nhắn gốc|"
    "Thư gốc|Orijinal Mesaj"
)
SEPARATOR = re.compile(
    r"^[\s>]*[-_=]{2,}\s*(?:" + _ORIGINAL_WORDS + r")\s*[-_=]{2,}\s*$", re.IGNORECASE
)
UNDERSCORES = re.compile(r"^[\s>]*(?:_{20,}|-{20,})\s*$")  # Outlook's rule before a header

_FORWARD_WORDS = (
    "Forwarded message|Forwarded Message|Weitergeleitete Nachricht|Message transféré|"
    "Mensaje reenviado|Messaggio inoltrato|Doorgestuurd bericht|Videresendt meddelelse|"
    "Videresendt melding|Vidarebefordrat meddelande|Przekazana wiadomość|"
    "Wiadomość przekazana dalej|Пересылаемое сообщение|Пересланное сообщение|Välitetty viesti|"
    "Přeposlaná zpráva|Továbbított üzenet|Mensagem encaminhada|转发邮件|转发的邮件|轉寄郵件|"
    "転送されたメッセージ|전달된 메시지|Tin nhắn đã chuyển tiếp|Thư chuyển tiếp|İletilen ileti"
)
FORWARD = re.compile(
    r"^[\s>]*(?:[-=]{2,}\s*(?:" + _FORWARD_WORDS + r")\s*[-=]*"
    r"|(?:Begin forwarded message|Anfang der weitergeleiteten Nachricht|"
    r"Début du message réexpédié|Inicio del mensaje reenviado|Inizio messaggio inoltrato|"
    r"Begin doorgestuurd bericht|Начало переадресованного сообщения)\s*[:：])\s*$",
    re.IGNORECASE,
)
FORWARD_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)*(?:fwd?|fw|wg|tr|doorst|vs|vb|vl|rv|i|pd|fwd|转发|轉寄|轉發|"
    r"пересл|trs)\s*[:：]",
    re.IGNORECASE,
)

_VERBS = (
    r"wrote|writes|schrieb|a écrit|a ecrit|escribió|ha scritto|escreveu|schreef|"
    r"skrev(?: følgende)?|napisał\(a\)|napisała|napisał|nadesłał|пишет|написал\(а\)|написала|"
    r"написал|đã viết|viết|写道|寫道|書きました|のメッセージ|작성(?:하였습니다)?|yazdı|"
    r"napsal\(a\)|napsala|napsal|kirjoitti|írta|pisze|escribe|écrit"
)
# The verb, then (German, Dutch, Nordic) perhaps the writer, then the colon that ends the line.
_VERB_END = re.compile(r"(?:^|[\s,，])(?:" + _VERBS + r")\b[^\n]{0,120}?[:：]\s*$", re.IGNORECASE)
_VERB_CJK_END = re.compile(r"(?:写道|寫道|書きました|のメッセージ|작성(?:하였습니다)?)\s*[:：]\s*$")
_OPENERS = re.compile(
    r"^[\s>]*(?:On|Am|Le|El|Il|Em|Op|Den|d\.|W dniu|Dnia|Dne|Vào|Lúc|在|於|于|\d)", re.IGNORECASE
)
_DATE = re.compile(r"\d{1,4}\s*[./\-年]\s*\d{1,2}|\d{1,2}:\d{2}")
_ADDRESS_END = re.compile(r"(?:<[^<>\s]+@[^<>\s]+>|\S+@\S+)\s*\"?\s*[:：]\s*$")


def attribution(line: str, following: str = "") -> bool:
    """Whether ``line`` introduces quoted history ("On … wrote:" and its kin).

    ``following`` is the next non-blank line: a verb line without a date or an address counts
    only when quoted lines follow, so "Here is what he wrote:" in a requester's own text stays.
    """
    text = line.replace("\xa0", " ").strip()
    if not text or len(text) > 300 or not text.endswith((":", "：")):
        return False
    dated = _DATE.search(text) is not None
    strong = dated and "@" in text
    verb = bool(_VERB_END.search(text) or _VERB_CJK_END.search(text))
    if verb and (strong or (dated and _OPENERS.match(text))):
        return True
    if strong and _ADDRESS_END.search(text):
        return True  # Yandex, Mail.ru, Gmail in Japanese: a date and "<address>:"
    quoted_next = following.lstrip().startswith(">")
    return quoted_next and (verb or dated or "@" in text)


def dated(line: str) -> bool:
    """Whether a line carries a date or a time (attributions do)."""
    return _DATE.search(line) is not None


def header_block(lines: list[str], index: int) -> bool:
    """Whether an Outlook-style header block (From, then Sent or Date) starts at ``index``."""
    if not FROM_LINE.match(lines[index].replace("\xa0", " ")):
        return False
    window = lines[index + 1 : index + 6]
    return any(SENT_LINE.match(line.replace("\xa0", " ")) for line in window)


def separator(line: str) -> bool:
    return bool(SEPARATOR.match(line.replace("\xa0", " ")))


def forward_marker(line: str) -> bool:
    return bool(FORWARD.match(line.replace("\xa0", " ")))


def forwarding(subject: str) -> bool:
    """Whether the subject says the mail forwards another (Fwd:, WG:, 转发: …)."""
    return bool(FORWARD_SUBJECT.match(subject or ""))


_SENT_FROM = re.compile(
    r"^\s*(?:Sent from my .{1,40}|Sent from .{1,30} for (?:iOS|Android|iPhone|iPad)|"
    r"Get Outlook for (?:iOS|Android)|Von meinem .{1,30} gesendet|Gesendet von meinem .{1,40}|"
    r"Envoyé de mon .{1,30}|Envoyé depuis mon .{1,30}|Enviado desde mi .{1,30}|"
    r"Inviato da(?:l mio)? .{1,30}|Verzonden (?:vanaf|met) mijn .{1,30}|Sendt fra min .{1,30}|"
    r"Skickat från min .{1,30}|Wysłane z (?:mojego )?.{1,30}|Wysłano z (?:mojego )?.{1,30}|"
    r"Отправлено с (?:моего )?.{1,30}|Gửi từ .{1,30}|Odesláno z (?:mého )?.{1,30}|"
    r"Lähetetty (?:iPhonesta|laitteesta).{0,30}|发自我的.{1,20}|来自我的.{1,20}|"
    r"从我的.{1,20}发送|寄件者為我的.{1,20}|发自网易邮箱大师|来自网易邮箱大师|发自网易邮箱手机版|"
    r"发自手机QQ邮箱|来自手机QQ邮箱|iPhoneから送信|내 .{1,20}에서 보냄)\s*(?:<https?://[^>\s]*>)?\s*$",
    re.IGNORECASE,
)


def sent_from(line: str) -> bool:
    """A device footer such as "Sent from my iPhone" in any of the languages above."""
    return bool(_SENT_FROM.match(line.replace("\xa0", " ")))
