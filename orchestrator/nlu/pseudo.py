"""Classes every router learns next to the departments' intents.

They give the router somewhere to put what no department owns: chit-chat,
requests for a person, follow-ups with no topic of their own ("any update?")
and questions that are not about money at all. Without
them the router would force "what's the weather?" onto the nearest department.

The examples are English on purpose: if only these classes had Spanish or
Chinese examples, the router would learn "Chinese means greeting" and drop real
requests. Greetings and requests for a person in other languages are caught by
the keyword rules in `signals`.
"""

from __future__ import annotations

from plugins.contracts import Intent

# Reserved department name for these classes; a plugin may not use it.
NLU_DEPARTMENT = "_nlu"
OUT_OF_SCOPE = "out_of_scope"
GREETING = "greeting"
HUMAN_REQUEST = "human_request"
FOLLOW_UP = "follow_up"
VAGUE = "vague"

_OUT_OF_SCOPE = Intent(
    name=OUT_OF_SCOPE,
    description="Questions that are not about the customer's money, account, cards or the app.",
    examples=(
        "what's the weather going to be like tomorrow",
        "will it rain in London this weekend",
        "can you order me a large pepperoni pizza",
        "recommend a good sushi place near me",
        "who won the football match last night",
        "what time does the Lakers game start",
        "tell me a joke",
        "say something funny to cheer me up",
        "how do I reverse a linked list in Python",
        "my JavaScript code throws undefined is not a function, can you fix it",
        "book me a flight to Rome for next month",
        "what are the best beaches in Thailand to visit",
        "find me a cheap hotel in Barcelona",
        "recommend a good movie to watch tonight",
        "who sings the song that goes la la la",
        "give me a recipe for chocolate cake",
        "how many calories are in a banana",
        "what is the capital of Australia",
        "solve this equation for x: 2x plus 3 equals 11",
        "write me a poem about the sea",
        "translate good night into French",
        "my printer keeps jamming paper",
        "how do I reset my home wifi router",
        "what's my horoscope for today",
        "can you recommend a dentist",
        "I have a headache, what medicine should I take",
        "how do I get my dog to stop barking",
        "when should I plant tomatoes in the garden",
        "who is the president of France",
        "what's a good birthday present for my sister",
        "call me a taxi to the airport",
        "is the new iPhone worth buying",
        "help me with my history homework",
        "what's the best video game this year",
        "how do I change a flat tyre",
        "write an essay about climate change",
        "how tall is Mount Everest",
        "can you reserve a table for two at an Italian restaurant",
        "what are the opening hours of the cinema",
    ),
)

_GREETING = Intent(
    name=GREETING,
    description="Greetings, thanks, sign-offs and small talk with no request in them.",
    examples=(
        "hi",
        "hello there",
        "hey",
        "good morning",
        "good evening team",
        "hi, how are you today?",
        "thanks a lot",
        "thank you so much for your help",
        "ok thanks, bye",
        "that's all, have a nice day",
        "cheers mate",
        "perfect, thank you",
        "great, got it",
        "sounds good",
        "nice to meet you",
        "are you a bot?",
        "who am I talking to?",
        "what's your name",
        "is anyone there?",
        "hello? anybody?",
        "never mind, it's fine now",
        "no that's everything, thanks",
        "you've been very helpful",
        "awesome, appreciate it",
        "good night",
        "see you later",
        "in a good mood today",
        "just saying hi",
        "hiya, how's it going",
        "morning! hope you're well",
        "thanks, that's sorted then",
        "brilliant, cheers for that",
        "ok",
        "bye for now",
        "lovely, have a good weekend",
        "hey there, hope your day is going well",
    ),
)

_HUMAN_REQUEST = Intent(
    name=HUMAN_REQUEST,
    description="The customer asks to talk to a person instead of the assistant.",
    examples=(
        "let me talk to a human",
        "I want to speak to a real person",
        "agent please",
        "get me a representative",
        "connect me with customer service staff",
        "I want to speak with your manager",
        "is there an actual person I can talk to",
        "transfer me to a live agent",
        "I don't want to talk to a bot",
        "I need a human being, not a machine",
        "escalate this to a person",
        "can someone from your team call me back",
        "put me through to an operator",
        "what number do I call to talk to someone",
        "I'd rather speak to a human",
        "chat with a person please",
        "human please",
        "representative",
        "operator",
        "your bot is useless, give me a person",
        "can I talk to somebody in support",
        "I need to speak to someone at the bank",
        "please connect me to a human agent",
        "is there a real human reading this",
        "I want a callback from a person",
        "let me chat with customer support staff",
        "get me someone from the complaints team on the phone",
        "I want a phone call with an advisor",
        "stop the automated replies and get me a human",
        "can a staff member look at this personally",
        "I'd like to speak to a supervisor",
        "pass me to someone who can actually help",
    ),
)

_FOLLOW_UP = Intent(
    name=FOLLOW_UP,
    description="A follow-up that only makes sense with the earlier conversation: no topic of its own.",
    # only phrases that point back at the conversation: generic problem words ("fix", "pending",
    # "not working") would pull in first messages about topics the departments did not list
    examples=(
        "any update on this?",
        "any news?",
        "any update on my case?",
        "it still hasn't arrived",
        "still nothing",
        "did you sort it out?",
        "what happened with my request",
        "is it done yet?",
        "I'm still waiting",
        "still waiting on your reply",
        "same problem as before",
        "same question as before",
        "you said it would be sorted by now",
        "you told me yesterday you'd look into it",
        "still no sign of it",
        "so what now?",
        "is there any progress",
        "it's been three days already",
        "nothing has changed since yesterday",
        "I tried that already",
        "can you check again",
        "have you looked into it yet",
        "did anyone look at my case",
        "it's still the same",
        "what about the other thing I mentioned",
        "and the second one?",
        "ok and what should I do next",
        "following up on my earlier message",
        "regarding my previous message",
        "as I said earlier",
        "I'm writing again about the same thing",
        "just checking in on the issue from before",
    ),
)

# a problem with no topic: asking one question beats guessing a department
_VAGUE = Intent(
    name=VAGUE,
    description="A problem stated with nothing that says what it is about.",
    examples=(
        "I have a problem",
        "I've got an issue",
        "there's a problem",
        "something is wrong",
        "something's not right",
        "it's not working",
        "it doesn't work",
        "not working",
        "it is broken",
        "can you help me with an issue",
        "I need help with something",
        "help me please",
        "I have a question",
        "quick question",
        "there is an issue with my thing",
        "something went wrong",
        "it's acting weird",
        "this is not right",
        "I have a complaint about something",
        "can you look into this for me",
        "I need some help",
        "something happened and I don't know what",
        "it still doesn't work",
        "I'm having trouble",
        "I have trouble with it",
        "can someone check this",
        "what is going on",
        "why is this happening",
        "it keeps happening",
        "I'm stuck",
        # remarks next to a request, with no topic of their own: they go with that request
        "I don't know what to do",
        "I have no idea why",
        "and it shouldn't have",
    ),
)

PSEUDO_INTENTS: tuple[Intent, ...] = (_OUT_OF_SCOPE, _GREETING, _HUMAN_REQUEST, _FOLLOW_UP, _VAGUE)


def pseudo_intents() -> list[tuple[str, Intent]]:
    return [(NLU_DEPARTMENT, intent) for intent in PSEUDO_INTENTS]
