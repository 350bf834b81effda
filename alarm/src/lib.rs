//! clinic-alarm: placeholder until its issue lands.
