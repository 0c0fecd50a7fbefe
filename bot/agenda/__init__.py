"""The compiled agenda: one client's preparation, for one viewer, in every output.

    agenda = await compile_agenda(unit, client_id, parts, viewer_role, now)  # a bot.state Unit
    telegram_messages(agenda, lib.emoji)   # HTML messages, each <= 4096
    spoken_text(agenda)                    # text for one voice message (voice.SpeechCache)
    client_pdf(agenda, lib) / begeleider_pdf(agenda, lib)   # bytes
    to_json(agenda)                        # follows agenda.schema.json
    fhir.bundle(agenda, lib.card)          # Questionnaire + QuestionnaireResponse (R5)

No Telegram imports here: the bot's handlers send what these functions return.

The submodules are imported where they are used: the PDF and FHIR libraries are large, and
the bot loads them only when somebody asks for a PDF or an export.
"""
