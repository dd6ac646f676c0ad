"""The words the app shows about privacy, the law and consent, kept in one place for review."""

from __future__ import annotations

PRIVACY_HTML = """
<h3>What FER Overlay does</h3>
<p>While a session runs, FER Overlay takes screenshots of the meeting window (or region) you chose,
finds each participant's tile and face, and estimates the <b>facial expression</b> with a small model
(7 classes: angry, disgust, fear, happy, sad, surprise, neutral). It shows class-wide
<b>indicators</b>: an engagement indicator, the class emotion mix and, unless you turn them off, one
row per participant.</p>
<h3>It stays on this computer</h3>
<p>Everything runs locally. No picture or result is sent anywhere, and no picture is saved: only the
numbers of the session log (which you can export) are written, to this computer.</p>
<h3>Keep only class-wide figures</h3>
<p>In <i>Settings</i>, tick <b>“Class-wide figures only”</b>: per-participant rows are then hidden and
left out of the session log and of every export.</p>
<h3>The law and consent</h3>
<p><b>In the European Union, the AI Act (Regulation (EU) 2024/1689, Art. 5(1)(f), in force since
2 February 2025) prohibits emotion-recognition systems in education institutions, except for medical
or safety reasons.</b> Do not use this app for teaching at an EU education institution.</p>
<p>Elsewhere, tell participants before the session that their facial expressions are analysed and
ask for their consent; respect anyone who declines (they can turn their camera off). Use
<i>Copy consent text</i> for a ready announcement to paste into the meeting chat.</p>
<h3>What it is not</h3>
<p>A facial expression is not an emotion, and neither is a measure of learning, attention or worth.
The figures are <b>indicators</b> for reflecting on your teaching, never scores of people; the model
makes mistakes and is less accurate for some faces than others. Never use them to grade or judge
anyone.</p>
<p>While a session runs, the app always shows <b style="color:#d93636">● ANALYSIS ON</b>.</p>
"""

CONSENT_TEXT = (
    "Hi everyone: during today's session I'm using FER Overlay, a tool that runs only on my computer and "
    "estimates facial expressions in the gallery view to give me class-wide indicators (for example, "
    "whether the class looks puzzled). No video or picture is recorded or sent anywhere, and it is "
    "never used for grades. If you'd rather not take part, just say so in the chat (or keep your camera "
    "off) and I'll respect that. Please reply 'OK' if you agree."
)

ABOUT_TEXT = "FER Overlay {version}: on-device facial-expression indicators for online teaching."
