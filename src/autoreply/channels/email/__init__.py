"""The email channel: form wire format, message rendering and SMTP or folder transport."""
