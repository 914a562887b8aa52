% Vehicles lined up in a row gain confidence.
%
% Why: parked cars stand in rows. A "car" box with two similar same-class neighbours, at most a few car lengths
% away, all three on one line, is far more likely a real car than the same box alone, so its score is raised;
% isolated boxes and loose clusters are left alone.
%
% Params: boost (added to the score, default 0.1), reach (neighbour distance in long sides, default 2.5),
%         tolerance (allowed deviation from the line as a share of the row length, default 0.15).

similar(A, B) :- box_area(A, AA), box_area(B, BA), BA > 0, R is AA / BA, R >= 0.5, R =< 2.0.

neighbour(Id, N) :-
    detection(Id, C, _, _, _, _, _), vehicle(C), near(Id, N, D), detection(N, C, _, _, _, _, _), similar(Id, N),
    box_long_side(Id, L), param_or(reach, 2.5, K), D =< K * L.

in_row(Id) :-
    detection(Id, _, _, _, _, _, _), findall(N, neighbour(Id, N), Ns),
    member(A, Ns), member(B, Ns), A @< B, param_or(tolerance, 0.15, T), collinear(A, Id, B, T), !.

adjust(Id, S) :-
    detection(Id, C, Old, _, _, _, _), vehicle(C), in_row(Id), param_or(boost, 0.1, Boost), S is min(1.0, Old + Boost).
