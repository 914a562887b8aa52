% Physical size limits per class, from the ground sample distance.
%
% Why: a detector sees shapes, not scale. On aerial imagery with a known ground sample distance (metres per
% pixel, sent with the job as meta gsd) a "car" 40 m long is a building or a field pattern, and a "car" 0.4 m long
% is a bush. Boxes whose longer side falls outside the plausible range for their class are suppressed.
% Without meta(gsd, _) the rule set changes nothing.
%
% Params: size_margin (default 1.0) multiplies every range, e.g. 1.2 to tolerate 20 % slack.

% class, shortest plausible long side (m), longest plausible long side (m)
size_range(person, 0.3, 2.5).
size_range(bicycle, 1.0, 2.5).
size_range(motorcycle, 1.2, 3.0).
size_range(car, 2.5, 7.0).
size_range(truck, 4.0, 25.0).
size_range(bus, 7.0, 25.0).
size_range(boat, 2.0, 400.0).
size_range(airplane, 5.0, 90.0).

suppress(Id, too_large) :-
    detection(Id, Class, _, _, _, _, _), size_range(Class, _, Max), param_or(size_margin, 1.0, K),
    long_side_m(Id, L), L > Max * K.

suppress(Id, too_small) :-
    detection(Id, Class, _, _, _, _, _), size_range(Class, Min, _), param_or(size_margin, 1.0, K),
    long_side_m(Id, L), L < Min / K.
