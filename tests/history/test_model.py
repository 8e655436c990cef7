"""Random sequences of operations, through two stores on one root, against a plain in-memory model."""

from __future__ import annotations

import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule

from mmchat_jupyter.errors import ChatNameTaken, ChatNotFound
from mmchat_jupyter.history import HistoryStore

NAMES = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=12).map(str.strip).filter(bool)
TEXT = st.text(max_size=40)


class HistoryModel(RuleBasedStateMachine):
    chats = Bundle("chats")

    def __init__(self) -> None:
        super().__init__()
        self.root = tempfile.mkdtemp(prefix="mmchat-model-")
        # Two stores on one root: a write through either must be seen by both.
        self.stores = [HistoryStore(self.root), HistoryStore(self.root)]
        self.model: dict[str, dict] = {}  # chat id -> {"name": str, "messages": [[id, role, content], ...]}

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _taken(self, name: str, but: str | None = None) -> bool:
        return any(chat["name"] == name for chat_id, chat in self.model.items() if chat_id != but)

    def _ref(self, chat_id: str, by_name: bool) -> str:
        return self.model[chat_id]["name"] if by_name and chat_id in self.model else chat_id

    @rule(target=chats, name=NAMES, which=st.integers(0, 1))
    def create(self, name, which):
        if self._taken(name):
            with pytest.raises(ChatNameTaken):
                self.stores[which].create_chat(name)
            return multiple()
        chat = self.stores[which].create_chat(name)
        self.model[chat.id] = {"name": name, "messages": []}
        return chat.id

    @rule(
        chat=chats,
        role=st.sampled_from(["user", "assistant"]),
        content=TEXT,
        which=st.integers(0, 1),
        by_name=st.booleans(),
    )
    def append(self, chat, role, content, which, by_name):
        if chat not in self.model:
            with pytest.raises(ChatNotFound):
                self.stores[which].append_message(chat, role=role, content=content)
            return
        message_id = self.stores[which].append_message(self._ref(chat, by_name), role=role, content=content)
        self.model[chat]["messages"].append([message_id, role, content])

    @rule(chat=chats, content=TEXT, which=st.integers(0, 1))
    def update_last(self, chat, content, which):
        if chat in self.model and self.model[chat]["messages"]:
            last = self.model[chat]["messages"][-1]
            self.stores[which].update_message(chat, last[0], content=content, status="complete")
            last[2] = content

    @rule(chat=chats, name=NAMES, which=st.integers(0, 1), by_name=st.booleans())
    def rename(self, chat, name, which, by_name):
        if chat not in self.model:
            with pytest.raises(ChatNotFound):
                self.stores[which].rename_chat(chat, name)
        elif self._taken(name, but=chat):
            with pytest.raises(ChatNameTaken):
                self.stores[which].rename_chat(self._ref(chat, by_name), name)
        else:
            self.stores[which].rename_chat(self._ref(chat, by_name), name)
            self.model[chat]["name"] = name

    @rule(chat=chats, which=st.integers(0, 1))
    def clear(self, chat, which):
        if chat in self.model:
            assert self.stores[which].clear_chat(chat) == len(self.model[chat]["messages"])
            self.model[chat]["messages"] = []

    @rule(chat=chats, which=st.integers(0, 1), by_name=st.booleans())
    def delete(self, chat, which, by_name):
        if chat in self.model:
            self.stores[which].delete_chat(self._ref(chat, by_name))
            del self.model[chat]

    @invariant()
    def both_stores_agree_with_the_model(self):
        for store in self.stores:
            rows = {row.id: (row.name, row.message_count) for row in store.list_chats()}
            assert rows == {cid: (chat["name"], len(chat["messages"])) for cid, chat in self.model.items()}
        for chat_id, chat in self.model.items():
            stored = self.stores[1].get_chat(chat["name"])
            assert stored.id == chat_id
            assert [[m.id, m.role, m.content] for m in stored.messages] == chat["messages"]


TestHistoryModel = pytest.mark.slow(HistoryModel.TestCase)
TestHistoryModel.settings = settings(
    max_examples=25, stateful_step_count=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class SegmentedHistoryModel(HistoryModel):
    """The same sequences with heads of a few messages: most writes roll messages over into segments."""

    def __init__(self) -> None:
        from mmchat_jupyter.history import segments

        self._limits = (segments.HEAD_BYTES, segments.HEAD_MESSAGES, segments.SEGMENT_BYTES)
        segments.HEAD_BYTES, segments.HEAD_MESSAGES, segments.SEGMENT_BYTES = 300, 3, 400
        super().__init__()

    def teardown(self) -> None:
        from mmchat_jupyter.history import segments

        segments.HEAD_BYTES, segments.HEAD_MESSAGES, segments.SEGMENT_BYTES = self._limits
        super().teardown()


TestSegmentedHistoryModel = pytest.mark.slow(SegmentedHistoryModel.TestCase)
TestSegmentedHistoryModel.settings = settings(
    max_examples=25, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
