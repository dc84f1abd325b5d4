"""Azure Speech SSML as the service reads it: strict validation, and the text a voice would actually say.

Shared by the Speech emulator (``ssml`` USP messages) and the ACS emulator (``playSources`` of kind ``ssml``), so
both reject what Azure text to speech rejects and both record what the listener would hear. Written from the
Azure docs (speech-synthesis-markup-structure / -voice / -pronunciation, speech-ssml-phonetic-sets ja-JP) and
the error texts the service is seen to send (``[express-as] element is not allowed``...):

* a well-formed ``<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="..">``,
  text only inside ``<voice name="..">``;
* known elements only; ``say-as interpret-as`` from the documented list; ``phoneme alphabet`` sapi/ipa/ups/x-sampa
  with a ``ph``; for ja-JP ``sapi`` the ``ph`` is katakana plus the SAPI Japanese marks ("unrecognized phones in
  ``ph``: text to speech rejects the entire SSML document").

The spoken text replaces ``sub`` by its ``alias`` and ``phoneme`` by its ``ph``; ``say-as`` keeps its content.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

SYNTHESIS_NS = "http://www.w3.org/2001/10/synthesis"
MSTTS_NS = ("http://www.w3.org/2001/mstts", "https://www.w3.org/2001/mstts")  # the docs use both spellings
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

SYNTHESIS_ELEMENTS = frozenset(
    {"speak", "voice", "prosody", "break", "sub", "say-as", "phoneme", "lang", "p", "s", "emphasis", "lexicon",
     "audio", "bookmark"}
)  # fmt: skip
MSTTS_ELEMENTS = frozenset({"express-as", "silence", "backgroundaudio", "viseme", "audioduration", "ttsembedding"})
#: speech-synthesis-markup-pronunciation.md, "say-as element" table.
SAY_AS_INTERPRET = frozenset(
    {"characters", "spell-out", "cardinal", "number", "ordinal", "number_digit", "fraction", "date", "time",
     "duration", "telephone", "currency", "address", "name"}
)  # fmt: skip
PHONEME_ALPHABETS = frozenset({"sapi", "ipa", "ups", "x-sampa"})
#: Elements whose content is not read out (markers, silence, embedded audio, lexicon references).
SILENT_ELEMENTS = frozenset({"break", "lexicon", "bookmark", "audio", "silence", "backgroundaudio", "viseme",
                             "audioduration"})  # fmt: skip
#: ja-JP sapi phone set: katakana (small kana, ヴ, ヵ, ヶ, the long-vowel mark) with the SAPI Japanese marks
#: ' (accent), + (accent boundary), | (phrase boundary), . ? ! (sentence ends), _ (pause), * and spaces.
JA_SAPI_PH = re.compile(r"^[\u30A1-\u30F6\u30FC'+|.?!_* \u3000]+$")
BREAK_TIME = re.compile(r"^\d+(\.\d+)?(ms|s)$")
BREAK_STRENGTHS = frozenset({"none", "x-weak", "weak", "medium", "strong", "x-strong"})
VOICE_LOCALE = re.compile(r"^([a-z]{2,3}-[A-Za-z]{2,4})-")
_TAG = re.compile(r"<[^>]+>")


class SsmlError(ValueError):
    """A document Azure text to speech refuses; the message is what the service reports."""


@dataclass(slots=True, frozen=True)
class Reading:
    """One marked-up span: what is written and what the voice is told to say for it."""

    kind: str  # "sub", "phoneme" or "say-as"
    written: str
    spoken: str
    detail: str = ""  # the alphabet of a phoneme, the interpret-as (and format) of a say-as


@dataclass(slots=True)
class SsmlDocument:
    """A valid document: voice, language, the written text and the text the voice says."""

    voice: str
    language: str
    text: str
    spoken: str
    voices: list[str] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)


def plain_text(ssml: str) -> str:
    """The tag-stripped text of any string (for records of documents that did not parse)."""
    return " ".join(_TAG.sub("", ssml).split())


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _locale(el: ET.Element, ancestors: list[ET.Element], speak_lang: str) -> str:
    """The language an element is spoken in: the nearest ``xml:lang`` of a lang/voice, else the voice's locale."""
    for node in [el, *reversed(ancestors)]:
        _, local = _split(node.tag)
        if local == "speak":
            break
        if node.get(XML_LANG):
            return node.get(XML_LANG, "")
        if local == "voice":
            m = VOICE_LOCALE.match(node.get("name", ""))
            if m:
                return m.group(1)
    return speak_lang


class _Reader:
    """One pass over the tree: checks every element and builds the written and spoken texts."""

    def __init__(self, speak_lang: str) -> None:
        self.speak_lang = speak_lang
        self.voices: list[str] = []
        self.readings: list[Reading] = []

    def element(self, el: ET.Element, ancestors: list[ET.Element]) -> tuple[str, str]:
        ns, local = _split(el.tag)
        if ns in MSTTS_NS:
            if local not in MSTTS_ELEMENTS:
                raise SsmlError(f"[{local}] element is not allowed.")
        elif ns != SYNTHESIS_NS or local not in SYNTHESIS_ELEMENTS:
            raise SsmlError(f"[{local}] element is not allowed." if ns == SYNTHESIS_NS or not ns
                            else f"Unknown namespace '{ns}' of element [{local}].")  # fmt: skip
        in_voice = local == "voice" or any(_split(a.tag)[1] == "voice" for a in ancestors)
        if local == "speak":
            raise SsmlError("[speak] element can only be the root element.")
        check = getattr(self, "_check_" + local.replace("-", "_"), None)
        if check is not None:
            check(el, ancestors)
        written, spoken = self.children(el, [*ancestors, el], in_voice)
        if local in SILENT_ELEMENTS:
            return written, ""
        if local == "sub":
            alias = el.get("alias", "")
            self.readings.append(Reading("sub", written, alias))
            return written, alias
        if local == "phoneme":
            ph = el.get("ph", "")
            self.readings.append(Reading("phoneme", written, ph, el.get("alphabet", "ipa")))
            return written, ph
        if local == "say-as":
            detail = el.get("interpret-as", "") + (f" {el.get('format')}" if el.get("format") else "")
            self.readings.append(Reading("say-as", written, spoken, detail))
        return written, spoken

    def children(self, el: ET.Element, path: list[ET.Element], in_voice: bool) -> tuple[str, str]:
        written, spoken = self._text(el.text, in_voice, "", "")
        for child in el:
            w, s = self.element(child, path)
            written, spoken = written + w, spoken + s
            written, spoken = self._text(child.tail, in_voice, written, spoken)
        return written, spoken

    @staticmethod
    def _text(text: str | None, in_voice: bool, written: str, spoken: str) -> tuple[str, str]:
        if not text:
            return written, spoken
        if text.strip() and not in_voice:
            raise SsmlError("Text must be inside a [voice] element.")
        return written + text, spoken + text

    # ---- per-element checks ---------------------------------------------------------------------------------

    def _check_voice(self, el: ET.Element, _ancestors: list[ET.Element]) -> None:
        name = (el.get("name") or "").strip()
        if not name:
            raise SsmlError("[voice] element requires a 'name' attribute.")
        self.voices.append(name)

    def _check_lang(self, el: ET.Element, _ancestors: list[ET.Element]) -> None:
        if not el.get(XML_LANG):
            raise SsmlError("[lang] element requires an 'xml:lang' attribute.")

    def _check_sub(self, el: ET.Element, _ancestors: list[ET.Element]) -> None:
        if el.get("alias") is None:
            raise SsmlError("[sub] element requires an 'alias' attribute.")
        if len(el):
            raise SsmlError("[sub] element can only contain text.")

    def _check_say_as(self, el: ET.Element, _ancestors: list[ET.Element]) -> None:
        kind = el.get("interpret-as")
        if kind is None:
            raise SsmlError("[say-as] element requires an 'interpret-as' attribute.")
        if kind.lower() not in SAY_AS_INTERPRET:
            raise SsmlError(f"Unsupported interpret-as value '{kind}' in [say-as] element.")
        if len(el):
            raise SsmlError("[say-as] element can only contain text.")

    def _check_phoneme(self, el: ET.Element, ancestors: list[ET.Element]) -> None:
        alphabet = el.get("alphabet", "ipa")
        if alphabet.lower() not in PHONEME_ALPHABETS:
            raise SsmlError(f"Unsupported phoneme alphabet '{alphabet}'.")
        ph = el.get("ph")
        if not ph or not ph.strip():
            raise SsmlError("[phoneme] element requires a non-empty 'ph' attribute.")
        if len(el):
            raise SsmlError("[phoneme] element can only contain text.")
        locale = _locale(el, ancestors, self.speak_lang)
        if alphabet.lower() == "sapi" and locale.lower() == "ja-jp" and not JA_SAPI_PH.match(ph):
            raise SsmlError(f"Phoneme '{ph}' is not valid in the sapi phone set of ja-JP.")

    def _check_break(self, el: ET.Element, _ancestors: list[ET.Element]) -> None:
        time_ = el.get("time")
        if time_ is not None and not BREAK_TIME.match(time_.strip()):
            raise SsmlError(f"Invalid [break] time '{time_}'.")
        strength = el.get("strength")
        if strength is not None and strength not in BREAK_STRENGTHS:
            raise SsmlError(f"Invalid [break] strength '{strength}'.")


def parse_ssml(ssml: str) -> SsmlDocument:
    """Validate ``ssml`` as Azure does; raises ``SsmlError`` with the reason the service would give."""
    try:
        root = ET.fromstring(ssml)
    except ET.ParseError as exc:
        raise SsmlError(f"SSML is not well-formed XML: {exc}.") from None
    ns, local = _split(root.tag)
    if local != "speak":
        raise SsmlError(f"The root element must be [speak], not [{local}].")
    if ns != SYNTHESIS_NS:
        raise SsmlError(f"[speak] element requires xmlns='{SYNTHESIS_NS}'.")
    if root.get("version") != "1.0":
        raise SsmlError("[speak] element requires version='1.0'.")
    language = root.get(XML_LANG, "")
    if not language:
        raise SsmlError("[speak] element requires an 'xml:lang' attribute.")
    reader = _Reader(language)
    written, spoken = reader.children(root, [root], in_voice=False)
    if not reader.voices:
        raise SsmlError("SSML must contain a [voice] element with a 'name' attribute.")
    return SsmlDocument(
        voice=reader.voices[0],
        language=language,
        text=written.strip(),
        spoken=" ".join(spoken.split()) if spoken.strip() else "",
        voices=reader.voices,
        readings=reader.readings,
    )
