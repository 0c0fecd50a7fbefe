from tests.harness import Harness, labels, texts


async def test_join_and_first_answer(h: Harness) -> None:
    sam = await h.join(1001, "Sam")
    assert "Hoi Sam" in texts(sam.messages)
    assert "➡️ Beginnen" in labels(sam.messages)
    out = await h.tap(sam, "➡️ Beginnen")
    assert "Waar ben jij goed in?" in texts(out)
    out = await h.say(sam, "Ik kan goed tekenen")
    assert "Dank je." in texts(out)
