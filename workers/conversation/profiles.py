"""Which responder answers a session: the model profile of its persona (or of the conversation role).

A profile's `extras["responder"]` names the kind; without it, model "deterministic" is the
deterministic responder and any other model the OpenAI-compatible one. No profile at all: the
deterministic responder, the embedded default. A kind is made by its entry in RESPONDERS.
"""

from __future__ import annotations

from collections.abc import Callable

from domain.model_profile.aggregate import DECIDER, ModelProfile, stream_id
from domain.service import EventStore
from domain.session.aggregate import Session
from workers.conversation import openai_compat
from workers.conversation.deterministic import DeterministicResponder
from workers.conversation.responder import Responder, ResponderError
from workers.conversation.settings import ConversationSettings
from workers.conversation.tools import offered_tools

DETERMINISTIC = "deterministic"
OPENAI = "openai"

MakeResponder = Callable[[ModelProfile | None, ConversationSettings], Responder]
RESPONDERS: dict[str, MakeResponder] = {
    DETERMINISTIC: lambda _profile, settings: DeterministicResponder(settings.conversation_chunk_delay),
    OPENAI: lambda profile, _settings: openai_compat.from_profile(profile, offered_tools()),
}


def kind_of(profile: ModelProfile | None) -> str:
    """The responder kind a profile asks for (see the module docstring)."""
    if profile is None:
        return DETERMINISTIC
    return profile.extras.get("responder") or (DETERMINISTIC if profile.model == DETERMINISTIC else OPENAI)


async def profile_of(store: EventStore, settings: ConversationSettings, session: Session) -> ModelProfile | None:
    """The persona's profile in the deployment mode, else the conversation role's, else None (read as
    stored: a profile changed by the API applies to the next message)."""
    roles = [session.persona_id] if session.persona_id else []
    for role in [*roles, settings.conversation_role]:
        profile = (await store.load(DECIDER, stream_id(role, settings.conversation_deployment_mode), fresh=True))[0]
        if profile is not None and not profile.removed:
            return profile
    return None


async def responder_for(store: EventStore, settings: ConversationSettings, session: Session) -> Responder:
    """The responder of the session's profile; ResponderError when its kind is not available here."""
    profile = await profile_of(store, settings, session)
    kind = kind_of(profile)
    if kind not in RESPONDERS:
        raise ResponderError(
            f"no responder of kind {kind!r} is available (model profile of {profile and profile.role})"
        )
    return RESPONDERS[kind](profile, settings)
