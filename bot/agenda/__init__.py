"""The compiled agenda: one client's preparation, for one viewer, in every output.

    agenda = await compile_agenda(session, client_id, parts, viewer_role, now)
    telegram_messages(agenda, lib.emoji)   # HTML messages, each <= 4096
    spoken_text(agenda)                    # text for one voice message (voice.SpeechCache)
    client_pdf(agenda, lib) / begeleider_pdf(agenda, lib)   # bytes
    to_json(agenda)                        # follows agenda.schema.json
    fhir.bundle(agenda, lib.card)          # Questionnaire + QuestionnaireResponse (R5)

No Telegram imports here: the bot's handlers send what these functions return.
"""

from bot.agenda.compile import MediaLookup, UnknownClient, compile_agenda
from bot.agenda.export_json import SCHEMA_PATH, SCHEMA_VERSION, to_dict, to_json
from bot.agenda.model import PARTS, Agenda
from bot.agenda.pdf import begeleider_pdf, client_pdf
from bot.agenda.telegram_text import media_to_send, spoken_text, telegram_messages

__all__ = [
    "PARTS",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "Agenda",
    "MediaLookup",
    "UnknownClient",
    "begeleider_pdf",
    "client_pdf",
    "compile_agenda",
    "media_to_send",
    "spoken_text",
    "telegram_messages",
    "to_dict",
    "to_json",
]
