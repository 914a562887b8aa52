% People inside a vehicle box.
%
% Why: from above, a driver or passenger seen through a windscreen or sunroof is not a pedestrian, and the
% "person" box a detector puts on a car's roof is usually a false positive. A person box lying (90 %) inside a
% car, truck or bus box is dropped, or down-weighted when param mode is downweight.
%
% Several vehicles around one person give several answers for it; Osprey applies the first.
%
% Params: mode (drop | downweight, default drop), factor (score multiplier for downweight, default 0.5).

person_in_vehicle(P, V) :-
    detection(P, person, _, _, _, _, _), near(P, V, _), detection(V, C, _, _, _, _, _), vehicle(C), contains(V, P).

suppress(P, inside_vehicle) :-
    param_or(mode, drop, drop), person_in_vehicle(P, _).

adjust(P, S) :-
    param_or(mode, drop, downweight), param_or(factor, 0.5, F),
    person_in_vehicle(P, _), detection(P, _, Old, _, _, _, _), S is Old * F.
