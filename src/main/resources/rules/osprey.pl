% Osprey rules library: loaded before every rule set. See docs/rules.md for the contract.
%
% Facts asserted for each image (all dynamic, so a rule set may rely on them being absent):
%   image(Width, Height, FileName).
%   meta(Key, Value).            metadata sent with the job, e.g. meta(gsd, 0.05) in metres per pixel
%   param(Key, Value).           parameters of the rule set chosen by the job
%   detection(Id, Class, Score, X1, Y1, X2, Y2).   pixels, Class an atom such as car
%   near(Id, Other, Distance).   centre distance of two boxes closer than 3 times the longer of their long sides
%                                (precomputed by Osprey; use it to find neighbours instead of scanning all pairs)
%
% A rule set answers with any of:
%   adjust(Id, NewScore).   suppress(Id, Reason).   relabel(Id, NewClass).

:- dynamic(image/3).
:- dynamic(meta/2).
:- dynamic(param/2).
:- dynamic(detection/7).
:- dynamic(near/3).
:- dynamic(adjust/2).
:- dynamic(suppress/2).
:- dynamic(relabel/2).

% --- lookups with defaults -------------------------------------------------------------------------------------
% The default applies only when the key is absent (not when it holds another value).
meta_or(Key, Default, Value) :- ( meta(Key, V) -> Value = V ; Value = Default ).

param_or(Key, Default, Value) :- ( param(Key, V) -> Value = V ; Value = Default ).

% --- geometry of one box (pixels) ------------------------------------------------------------------------------
box_width(Id, W) :- detection(Id, _, _, X1, _, X2, _), W is X2 - X1.
box_height(Id, H) :- detection(Id, _, _, _, Y1, _, Y2), H is Y2 - Y1.
box_area(Id, A) :- box_width(Id, W), box_height(Id, H), A is W * H.
box_long_side(Id, L) :- box_width(Id, W), box_height(Id, H), L is max(W, H).
box_short_side(Id, S) :- box_width(Id, W), box_height(Id, H), S is min(W, H).
center(Id, CX, CY) :- detection(Id, _, _, X1, Y1, X2, Y2), CX is (X1 + X2) / 2, CY is (Y1 + Y2) / 2.

% --- sizes on the ground (needs meta(gsd, MetresPerPixel)) ------------------------------------------------------
long_side_m(Id, M) :- meta(gsd, G), box_long_side(Id, L), M is L * G.
short_side_m(Id, M) :- meta(gsd, G), box_short_side(Id, S), M is S * G.

% --- relations between two boxes --------------------------------------------------------------------------------
intersection(A, B, I) :-
    detection(A, _, _, AX1, AY1, AX2, AY2), detection(B, _, _, BX1, BY1, BX2, BY2),
    W is min(AX2, BX2) - max(AX1, BX1), H is min(AY2, BY2) - max(AY1, BY1),
    ( W > 0, H > 0 -> I is W * H ; I = 0 ).

iou(A, B, V) :-
    intersection(A, B, I), box_area(A, AA), box_area(B, BA), U is AA + BA - I,
    ( U > 0 -> V is I / U ; V = 0 ).

% Share of Inner's area lying inside Outer.
inside_fraction(Inner, Outer, F) :-
    intersection(Inner, Outer, I), box_area(Inner, A),
    ( A > 0 -> F is I / A ; F = 0 ).

contains(Outer, Inner) :- Outer \== Inner, inside_fraction(Inner, Outer, F), F >= 0.9.

distance(A, B, D) :- center(A, AX, AY), center(B, BX, BY), D is ((AX - BX) ** 2 + (AY - BY) ** 2) ** 0.5.

% Three centres on one line: the middle one deviates from the line A-C by at most Tol times |AC|.
collinear(A, B, C, Tol) :-
    center(A, AX, AY), center(B, BX, BY), center(C, CX, CY),
    L is ((CX - AX) ** 2 + (CY - AY) ** 2) ** 0.5, L > 0,
    Cross is abs((CX - AX) * (BY - AY) - (CY - AY) * (BX - AX)),
    Cross / L =< Tol * L.

vehicle(car).
vehicle(truck).
vehicle(bus).
