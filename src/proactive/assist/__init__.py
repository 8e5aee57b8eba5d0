"""The live assistant: watches activity, offers help in a notification, acts only with consent, learns when to speak."""
