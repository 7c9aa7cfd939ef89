"""Ratings service (好差评): one invitation per completed ticket (一次一评) or case (一事一评), one rating per
invitation, append-only and hash-chained so that a changed or deleted rating is detected."""
