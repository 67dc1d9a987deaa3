"""After the invitations: the 課 directory, events with RSVP, questions and the FAQ, anonymous
consultation. The member side of the Messenger conversation lives here (conversation.py); it
extends the onboarding conversation and may call the onboarding domain, never the reverse."""
